"""A hostile OpenAI-compatible server on loopback: every shape it serves ends in a finished climb or a one-line
error with exit 2, in bounded time, with no traceback and no terminal escape on the user's terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.hostile_server import ESCAPES, MODES, HostileServer
from helpers import LABEL_TOML_EXACT, write_task

TOML = LABEL_TOML_EXACT
TRAIN = [{"input": f"example number {w}", "target": "billing"} for w in ("one", "two", "three")]
EVAL = [{"input": f"question {i}", "target": "billing"} for i in range(3)]

#: modes whose answer is usable: the climb finishes and scores it
ANSWERED = {"ok", "content_parts", "content_null", "content_escapes", "content_surrogate", "content_nul", "usage_string", "usage_list", "usage_infinity",
            "usage_negative", "usage_huge", "cached_string", "cached_list", "finish_reason_number", "wrong_content_type",
            *(m for m in MODES if m.startswith("models_"))}
#: modes whose answers are malformed: the climb finishes with every row a server failure
MALFORMED = {"content_number", "content_dict", "choices_empty", "choices_string", "message_missing", "body_list",
             "body_string", "body_null", "truncated", "html", "huge", "content_10mib", "gzip_bomb", "deflate_corrupt",
             "encoding_unknown"}


def climb(folder: Path, url: str, tmp_path: Path, *extra: str, env_extra: dict[str, str] | None = None,
          timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache"), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "rungwise", "climb", str(folder), "--rungs", "baseline", "--model", url,
         "--model-name", "m", "--store", str(tmp_path / "s.db"), "--concurrency", "1", *extra],
        capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("mode", MODES)
def test_every_hostile_shape_finishes_or_stops_cleanly(mode: str, tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", TOML, TRAIN, EVAL)
    with HostileServer(mode, lifetime_s=60) as server:
        start = time.monotonic()
        proc = climb(folder, server.base_url, tmp_path, "--json", "--timeout", "1", "--retries", "1")
        elapsed = time.monotonic() - start
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert "\x1b" not in proc.stderr + proc.stdout and "\x9b" not in proc.stderr + proc.stdout
    assert elapsed < 30, elapsed
    if mode in ANSWERED:
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["server_failures"] == 0
        variant = data["variants"][0]
        assert variant["n"] == 3 and variant["mean_prompt_tokens"] >= 0  # never a negative count
        if mode in ("ok", "content_parts", "usage_negative", "usage_infinity", "usage_string"):
            assert variant["score"] == 1.0
    elif mode in MALFORMED:
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["server_failures"] == 3 and data["variants"][0]["score"] == 0.0
        assert server.chat_requests == 3 * 2  # each row: one attempt and one retry
        # nothing of a refused answer is kept: the store holds the one-line reasons, not 3 x 10 MiB
        store_bytes = sum(p.stat().st_size for p in tmp_path.glob("s.db*"))
        assert store_bytes < 2 * 1024 * 1024, store_bytes
    else:  # never_answers, drip, error bodies, a redirect, a dropped connection: stop with one line
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("rungwise: ")]
        assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
        assert "lower --concurrency" not in proc.stderr or mode in ("never_answers_chat", "drip", "error_escape_500",
                                                                      "retry_after_huge_year", "retry_after_huge_offset")


def test_a_server_that_never_answers_fails_in_bounded_time_with_progress_lines(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", TOML, TRAIN, EVAL)
    with HostileServer("never_answers", lifetime_s=60) as server:
        start = time.monotonic()
        proc = climb(folder, server.base_url, tmp_path, env_extra={"RUNGWISE_TIMEOUT": "1", "RUNGWISE_RETRIES": "2"})
        elapsed = time.monotonic() - start
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert elapsed < 20, elapsed
    assert "did not answer within 1 s" in proc.stderr, proc.stderr


def test_a_chat_endpoint_that_never_answers_retries_with_a_progress_line(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", TOML, TRAIN, EVAL)
    with HostileServer("drip", lifetime_s=60) as server:
        start = time.monotonic()
        proc = climb(folder, server.base_url, tmp_path, "--timeout", "1", "--retries", "3")
        elapsed = time.monotonic() - start
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "waiting for the server (attempt 2 of 4)" in proc.stderr and "attempt 4 of 4" in proc.stderr
    assert "failed 4 times in a row" in proc.stderr
    assert elapsed < 25, elapsed
    assert server.chat_requests == 4


def test_task_toml_sets_the_deadlines_and_a_flag_overrides_them(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", TOML + "\n[model]\ntimeout_s = 1\nretries = 2\n", TRAIN, EVAL)
    with HostileServer("drip", lifetime_s=60) as server:
        proc = climb(folder, server.base_url, tmp_path)
    assert proc.returncode == 2 and "attempt 3 of 3" in proc.stderr and "attempt 4" not in proc.stderr, proc.stderr
    assert server.chat_requests == 3
    with HostileServer("drip", lifetime_s=60) as server:
        proc = climb(folder, server.base_url, tmp_path, "--retries", "0")
    assert proc.returncode == 2 and "waiting for the server" not in proc.stderr, proc.stderr
    assert server.chat_requests == 1


def test_the_tasks_deadlines_hold_from_python_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """climb(task, OpenAIHttpModel(...)) honours the task's [model] timeout_s/retries, as `rungwise climb` does;
    ClimbOptions(retries=...) overrides them."""
    from rungwise import ClimbOptions, ModelError
    from rungwise import climb as climb_api
    from rungwise.models.openai_http import OpenAIHttpModel

    for name in ("RUNGWISE_TIMEOUT", "RUNGWISE_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_task(tmp_path / "t", TOML + "\n[model]\ntimeout_s = 1\nretries = 1\n", TRAIN, EVAL)
    options = ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db", concurrency=1)
    with HostileServer("drip", lifetime_s=60) as server:
        start = time.monotonic()
        with pytest.raises(ModelError, match="failed 2 times in a row"):
            climb_api(folder, OpenAIHttpModel(server.base_url, "m", max_concurrency=1), options)
        elapsed = time.monotonic() - start
    assert server.chat_requests == 2 and elapsed < 15, (server.chat_requests, elapsed)  # the default: 4 of 15 s
    with HostileServer("drip", lifetime_s=60) as server:
        with pytest.raises(ModelError):
            climb_api(folder, OpenAIHttpModel(server.base_url, "m", max_concurrency=1),
                      options.model_copy(update={"retries": 0, "resume": False}))
    assert server.chat_requests == 1


def test_the_error_body_reaches_the_terminal_without_escapes(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", TOML, TRAIN, EVAL)
    with HostileServer("error_escape") as server:
        proc = climb(folder, server.base_url, tmp_path)
    assert proc.returncode == 2 and "rejected the request (HTTP 400)" in proc.stderr
    assert "bad request" in proc.stderr and not any(c in proc.stderr for c in ESCAPES if not c.isprintable())


def test_an_api_key_echoed_by_the_server_is_never_printed(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", TOML, TRAIN, EVAL)
    key = "sk-test-0123456789abcdef\"quoted\\"
    with HostileServer("echo_authorization") as server:
        proc = climb(folder, server.base_url, tmp_path, "--api-key-env", "RW_TEST_KEY",
                     env_extra={"RW_TEST_KEY": key})
    assert server.chat_requests >= 1 and proc.returncode == 2, proc.stderr
    assert "rejected the request (HTTP 400)" in proc.stderr and "Bearer ***" in proc.stderr, proc.stderr
    assert "0123456789abcdef" not in proc.stderr + proc.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"0123456789abcdef" not in path.read_bytes(), path


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("mode", ["content_surrogate", "content_nul"])
def test_text_no_store_holds_is_stored_as_replacement_characters(mode: str, backend: str, tmp_path: Path,
                                                                 request: pytest.FixtureRequest) -> None:
    store = str(tmp_path / "s.db") if backend == "sqlite" else str(request.getfixturevalue("pg_url"))
    folder = write_task(tmp_path / "t", TOML, TRAIN, EVAL)
    with HostileServer(mode) as server:
        first = climb(folder, server.base_url, tmp_path, "--json", "--store", store)
        again = climb(folder, server.base_url, tmp_path, "--json", "--store", store)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert server.chat_requests == 3  # the second climb is answered from the store
    from rungwise.store import Store
    with Store(store) as s:
        run_id = s.list_runs()[0].id
        outputs = {r.output for r in s.results(run_id)}
    assert outputs == {"billing\ufffd"}
