"""Any OpenAI-compatible endpoint: what each kind of server is found to offer, the exact request body each
capability profile sends, Retry-After and the rpm/tpm limits, a too-long context, the served model per answer
and the token calibration, against a recording server on loopback (bounded: every test takes a few seconds)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.errors import ContextTooLong, ModelError, TaskError
from rungwise.models.base import Message, Request
from rungwise.models.openai_http import OpenAIHttpModel, retry_after_s
from rungwise.models.ratelimit import RateLimiter
from rungwise.store import Store
from rungwise.task.spec import Task

from helpers import LABEL_EVAL, LABEL_TOML_EXACT, LABEL_TRAIN, write_task
from models.recording_server import Behaviour, RecordingServer

LABELS = ("billing", "technical", "sales")
SCHEMA = {"type": "object", "properties": {"team": {"type": "string"}}, "required": ["team"]}


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                "RUNGWISE_CAPABILITIES"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[RecordingServer]:
    kind, behaviour = getattr(request, "param", ("hosted", None))
    with RecordingServer(kind, behaviour) as s:
        yield s


def _complete(model: OpenAIHttpModel, *requests: Request) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return [await model.complete(r) for r in requests]
        finally:
            await model.aclose()

    return asyncio.run(go())


def _constrained_fields(body: dict[str, Any]) -> dict[str, Any]:
    plain = {"model", "messages", "temperature", "max_tokens", "stop", "cache_prompt"}
    return {k: v for k, v in body.items() if k not in plain}


CHOICE = Request((Message("user", "I was charged twice"),), max_tokens=5, stop=("\n",), choice=LABELS)
JSON = Request((Message("user", "I was charged twice"),), max_tokens=20, json_schema=SCHEMA)
GRAMMAR = 'root ::= "billing" | "technical" | "sales"'
WRAPPED = {"type": "object", "properties": {"answer": {"type": "string", "enum": list(LABELS)}},
           "required": ["answer"], "additionalProperties": False}

#: kind -> (what open() finds, the fields a label choice is sent in, the fields a JSON schema is sent in)
EXPECTED: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "llama.cpp": ({"dialect": "llama.cpp", "grammar": True, "choice": False, "tokenize": True, "context_length": 4096,
                   "logprobs": True},
                  {"grammar": GRAMMAR}, {"json_schema": SCHEMA}),
    "vllm": ({"dialect": "structured_outputs", "grammar": False, "choice": True, "tokenize": True,
              "context_length": 32768, "logprobs": True},
             {"structured_outputs": {"choice": list(LABELS)}}, {"structured_outputs": {"json": SCHEMA}}),
    "vllm-old": ({"dialect": "guided", "choice": True, "context_length": 16384},
                 {"guided_choice": list(LABELS)}, {"guided_json": SCHEMA}),
    "sglang": ({"dialect": "sglang", "grammar": True, "choice": False, "tokenize": False, "context_length": 8192},
               {"ebnf": GRAMMAR},
               {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}}),
    "ollama": ({"dialect": "response_format", "grammar": False, "choice": False, "json_schema": True,
                "tokenize": False, "context_length": None, "logprobs": None},
               {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "output", "schema": WRAPPED, "strict": True}}},
               {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}}),
    "hosted": ({"dialect": "response_format", "grammar": False, "json_schema": True},
               {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "output", "schema": WRAPPED, "strict": True}}},
               {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}}),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_kind_of_server_is_found_and_sent_its_own_constraint_fields(kind: str) -> None:
    found, choice_fields, json_fields = EXPECTED[kind]
    with RecordingServer(kind) as server:
        model = OpenAIHttpModel(server.base_url, "m")
        choice_answer, _ = _complete(model, CHOICE, JSON)
        info = model.info
    caps = info.capabilities.to_dict()
    assert {k: caps[k] for k in found} == found
    assert info.server_kind == {"vllm-old": "vllm", "hosted": "openai-compatible"}.get(kind, kind)
    bodies = [s.body for s in server.chats]
    assert _constrained_fields(bodies[0]) == choice_fields
    assert _constrained_fields(bodies[1]) == json_fields
    assert choice_answer.text == "billing"  # an enum-wrapped answer is unwrapped: the label itself is scored
    wrapped = "response_format" in choice_fields
    assert bodies[0]["max_tokens"] == 5 + (16 if wrapped else 0)  # the JSON around the label is the backend's
    assert ("stop" in bodies[0]) is not wrapped  # and may hold newlines: no stop at one
    assert ("raw" in choice_answer.extra) is wrapped


@pytest.mark.parametrize("profile, fields", [
    ("grammar", {"grammar": GRAMMAR}),
    ("choice", {"structured_outputs": {"choice": list(LABELS)}}),
    ("guided", {"guided_choice": list(LABELS)}),
    ("sglang", {"ebnf": GRAMMAR}),
    ("json_schema", EXPECTED["hosted"][1]),
])
def test_a_forced_profile_sends_its_own_fields_to_any_server(profile: str, fields: dict[str, Any]) -> None:
    with RecordingServer("llama.cpp") as server:
        model = OpenAIHttpModel(server.base_url, "m", capabilities=profile)
        _complete(model, CHOICE)
    assert _constrained_fields(server.chats[0].body or {}) == fields
    assert model.info.capabilities.source == f"forced: {profile}"


def test_an_unknown_profile_is_refused_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="Unknown capability profile 'grammer'"):
        OpenAIHttpModel("http://127.0.0.1:9/v1", "m", capabilities="grammer")
    monkeypatch.setenv("RUNGWISE_CAPABILITIES", "none")
    assert OpenAIHttpModel("http://127.0.0.1:9/v1", "m").profile == "none"


def _label_task(tmp_path: Path, eval_rows: list[dict[str, Any]] | None = None, toml: str = LABEL_TOML_EXACT) -> Task:
    return Task.load(write_task(tmp_path / "route", toml, LABEL_TRAIN, eval_rows or LABEL_EVAL))


@pytest.mark.parametrize("profile, constrained_fields", [
    ("grammar", {"grammar"}), ("choice", {"structured_outputs"}), ("json_schema", {"response_format"}), ("none", None),
])
def test_a_climb_sends_each_profile_and_says_why_a_server_gets_no_constrained_variant(
        tmp_path: Path, profile: str, constrained_fields: set[str] | None) -> None:
    with RecordingServer("hosted") as server:
        model = OpenAIHttpModel(server.base_url, "m", capabilities=profile)
        result = climb(_label_task(tmp_path), model, ClimbOptions(rungs=["prompt"], store_path=tmp_path / "s.db"))
    names = [v.name for v in result.variants]
    sent = {frozenset(_constrained_fields(s.body or {})) for s in server.chats}
    if constrained_fields is None:
        assert names == ["prompt"] and sent == {frozenset()}
        assert "takes no constraint on its output" in result.skipped["constrained variants"]
        assert "forced: none" in result.skipped["constrained variants"]
    else:
        assert names == ["prompt", "prompt-constrained"] and "constrained variants" not in result.skipped
        if profile == "grammar":  # every answer already is a label, which a grammar cannot change: no call needed
            assert result.stats.derived == len(LABEL_EVAL) and sent == {frozenset()}
        else:
            assert frozenset(constrained_fields) in sent
        twin = next(v for v in result.variants if v.name == "prompt-constrained")
        assert twin.score == pytest.approx(sum(r["target"] == "billing" for r in LABEL_EVAL) / len(LABEL_EVAL))


# -- Retry-After and the limits ------------------------------------------------------------------------------
def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_s("3") == 3.0 and retry_after_s(" 0.5 ") == 0.5
    now = time.time()
    assert retry_after_s(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert retry_after_s(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0  # a date gone by: at once
    assert retry_after_s(None) is None and retry_after_s("soon") is None and retry_after_s("nan") is None


@pytest.mark.parametrize("header", ["1", "date"])
def test_a_retry_after_holds_back_every_request_until_it_passes(header: str) -> None:
    value = email.utils.formatdate(time.time() + 2, usegmt=True) if header == "date" else "1"
    with RecordingServer("hosted", Behaviour(refuse=1, retry_after=value)) as server:
        model = OpenAIHttpModel(server.base_url, "m", backoff_s=0.01)
        start = time.monotonic()
        answers = _complete(model, CHOICE)
        elapsed = time.monotonic() - start
    chats = server.chats
    assert [a.text for a in answers] == ["billing"] and len(chats) == 2
    gap = chats[1].at - chats[0].at
    assert gap >= 0.95 and elapsed < 5, (gap, elapsed)  # the backoff alone would have waited ~0.01 s


def test_a_retry_after_beyond_ten_minutes_fails_saying_so() -> None:
    with RecordingServer("hosted", Behaviour(refuse=5, retry_after="3600")) as server:
        model = OpenAIHttpModel(server.base_url, "m", backoff_s=0.01)
        with pytest.raises(ModelError, match="asks rungwise to wait 3600 s"):
            _complete(model, CHOICE)


def test_requests_per_minute_are_never_exceeded_over_a_sliding_window() -> None:
    with RecordingServer("hosted") as server:
        model = OpenAIHttpModel(server.base_url, "m", rpm=3, max_concurrency=4)
        model.limiter.window_s = 1.0  # the minute, shortened so the test stays short

        async def go() -> None:
            try:
                await asyncio.gather(*(model.complete(CHOICE) for _ in range(7)))
            finally:
                await model.aclose()

        asyncio.run(go())
    times = sorted(s.at for s in server.chats)
    assert len(times) == 7
    assert all(sum(1 for u in times if t <= u < t + 1.0) <= 3 for t in times)  # any window, as the server sees it
    assert times[-1] - times[0] >= 2 * 1.0  # 7 requests at 3 a window need two full windows


def test_tokens_per_minute_are_reserved_then_settled_to_the_reported_usage() -> None:
    clock = [0.0]
    limiter = RateLimiter(tpm=100, window_s=60.0, clock=lambda: clock[0])

    async def go() -> list[float]:
        waits = []
        slot = await limiter.acquire(80)
        slot.settle(30)  # the server said it used 30
        await limiter.acquire(60)  # 30 + 60 <= 100: at once
        waits.append(limiter.waited_s)
        return waits

    assert asyncio.run(go()) == [0.0]
    assert limiter._wait_s(20) == pytest.approx(61.0)  # 90 in the window: 20 more wait for the first to leave it
    with pytest.raises(TaskError, match="more than the limit of 100 tokens per minute"):
        asyncio.run(limiter.acquire(101))


def test_limits_come_from_the_task_when_the_cli_sets_none(tmp_path: Path) -> None:
    toml = LABEL_TOML_EXACT + "[model]\nrpm = 600\ntpm = 100000\n"
    with RecordingServer("hosted") as server:
        model = OpenAIHttpModel(server.base_url, "m", rpm=1200)
        climb(_label_task(tmp_path, toml=toml), model, ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db"))
    assert (model.limiter.rpm, model.limiter.tpm) == (1200, 100000)  # the CLI's wins; the task fills the rest


def test_a_context_too_long_names_the_variant_and_the_row(tmp_path: Path) -> None:
    with RecordingServer("hosted", Behaviour(too_long=True)) as server:
        model = OpenAIHttpModel(server.base_url, "m")
        with pytest.raises(ContextTooLong) as err:
            climb(_label_task(tmp_path), model, ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db",
                                                              concurrency=1))
    message = str(err.value)
    assert message.startswith("Variant baseline, row ") and "too long for the model's context" in message
    assert "maximum context length is 2048" in message


# -- the served model ------------------------------------------------------------------------------------------
def test_the_served_model_is_recorded_per_answer_and_a_change_is_reported(tmp_path: Path) -> None:
    notes: list[str] = []
    with RecordingServer("hosted", Behaviour(switch_after=2)) as server:
        model = OpenAIHttpModel(server.base_url, "m")
        model.notify = notes.append
        result = climb(_label_task(tmp_path), model, ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db",
                                                                  concurrency=1))
    assert result.extra["served_models"] == ["m-2026-01", "m-2026-06"]
    assert "2 different models" in result.extra["served_model_changed"]
    assert any("now answers with model 'm-2026-06'" in n for n in notes)
    store = Store(tmp_path / "s.db")
    rows = store.results(result.run_id, "baseline")
    store.close()
    assert [r.served_model for r in rows] == ["m-2026-01"] * 2 + ["m-2026-06"] * (len(rows) - 2)
    assert {r.system_fingerprint for r in rows} == {"fp_1"}


def test_answers_of_a_replaced_model_are_not_served_from_the_cache(tmp_path: Path) -> None:
    task = _label_task(tmp_path)
    options = ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db", resume=False)
    with RecordingServer("hosted") as server:
        first = climb(task, OpenAIHttpModel(server.base_url, "m"), options)
        again = climb(task, OpenAIHttpModel(server.base_url, "m"), options)
        assert first.stats.calls == len(LABEL_EVAL) and again.stats.calls == 0  # same model: all from the cache
        probes = [s for s in server.chats if s.body and s.body.get("max_tokens") == 1]
        assert len(probes) == 1  # one probe call of one token asked which model answers before the cache was used
        server.behaviour.served = "m-2026-06"  # the hosted model is replaced behind the same name
        replaced = climb(task, OpenAIHttpModel(server.base_url, "m"), options)
    assert replaced.stats.calls == len(LABEL_EVAL) and replaced.stats.cache_hits == 0


# -- token calibration -----------------------------------------------------------------------------------------
def test_requests_do_not_change_once_the_estimate_is_calibrated(tmp_path: Path) -> None:
    task = _label_task(tmp_path)
    options = ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db", resume=False)
    with RecordingServer("hosted", Behaviour(usage={"prompt_tokens": 400, "completion_tokens": 1})) as server:
        model = OpenAIHttpModel(server.base_url, "m")
        first = climb(task, model, options)
        assert model.calibration.points == len(LABEL_EVAL)  # usage far above the estimate: a large scale learnt
        again = climb(task, model, options)
    assert again.budget == first.budget and again.stats.calls == 0  # the same requests: all from the cache

def test_the_token_estimate_is_calibrated_from_the_reported_usage() -> None:
    from rungwise.models.tokens import TokenCounter, estimate_tokens

    text = "I was charged twice for the same order last week"
    with RecordingServer("hosted", Behaviour(usage={"prompt_tokens": 5 + 2 * estimate_tokens(text),
                                                    "completion_tokens": 1})) as server:
        model = OpenAIHttpModel(server.base_url, "m")
        counter = TokenCounter(model)

        async def go() -> tuple[int, str, int, str]:
            try:
                before, basis = await counter.count(text), counter.basis
                await model.complete(Request((Message("user", text),), max_tokens=5))
                return before, basis, await counter.count(text), counter.basis
            finally:
                await model.aclose()

        before, basis_before, after, basis_after = asyncio.run(go())
    assert before == estimate_tokens(text) and "no usage seen yet" in basis_before
    assert after == 2 * estimate_tokens(text) and "calibrated on 1 answer (x2.00)" in basis_after
    assert counter.estimated


def test_rungwise_models_prints_what_the_server_offers() -> None:
    from typer.testing import CliRunner

    from rungwise.cli import app

    with RecordingServer("vllm") as server:
        result = CliRunner().invoke(app, ["models", "--model", server.base_url, "--model-name", "m"])
        forced = CliRunner().invoke(app, ["models", "--model", server.base_url, "--model-name", "m", "--json",
                                          "--capabilities", "none"])
    assert result.exit_code == 0, result.output
    assert "server: vllm" in result.output and "32,768 tokens" in result.output
    assert "choice, json_schema (sent as: structured_outputs)" in result.output
    assert "the server's /tokenize" in result.output and "logprobs: yes" in result.output
    assert forced.exit_code == 0 and '"constrained_output": []' in forced.output and "forced: none" in forced.output


def test_the_cli_climb_in_a_log_shows_progress_lines_the_missing_constraint_and_a_changed_model(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rungwise.cli import app

    folder = write_task(tmp_path / "route", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    with RecordingServer("hosted", Behaviour(switch_after=1)) as server:
        result = CliRunner().invoke(app, ["climb", str(folder), "--model", server.base_url, "--model-name", "m",
                                          "--rungs", "prompt", "--capabilities", "none", "--rpm", "600",
                                          "--store", str(tmp_path / "s.db"), "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    assert f"rungwise: prompt: {len(LABEL_EVAL)}/{len(LABEL_EVAL)} done in" in result.stderr  # not a terminal
    shown = " ".join(result.stdout.split())  # rich wraps at the console's width
    assert "skipped constrained variants: the server (openai-compatible, forced: none) takes no constraint" in shown
    assert "served model changed" in shown and "(m-2026-01, m-2026-06)" in shown
    assert "token counts: estimate (characters and words))" in shown
