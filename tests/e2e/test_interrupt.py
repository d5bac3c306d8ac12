"""Ctrl-C stops a climb within a second or two wherever it is: waiting for a server that does not answer, or
scoring with a metric that hangs. The terminal sends SIGINT to the whole foreground process group; so do these
tests. What finished before is kept (exit 130, the resume hint)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.hostile_server import HostileServer
from helpers import LABEL_TOML_EXACT, write_task

TRAIN = [{"input": f"example number {w}", "target": "billing"} for w in ("one", "two", "three")]
EVAL = [{"input": f"question {i}", "target": "billing"} for i in range(3)]
#: how long Ctrl-C may take to end the process (the goal is one to two seconds; a loaded CI machine gets slack)
BOUND_S = 5.0


def _interrupt_when(cmd: list[str], ready: object, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    # as from a terminal: SIGINT at its default (a runner that started the tests in the background ignores it, and
    # a process that starts with SIGINT ignored never gets Python's KeyboardInterrupt handler)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not ready() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    assert ready(), "the climb never reached the point to interrupt"  # type: ignore[operator]
    time.sleep(0.3)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("Ctrl-C did not stop the climb within 30 s")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), time.monotonic() - sent


def _climb(folder: Path, tmp_path: Path, *model: str) -> list[str]:
    return [sys.executable, "-m", "rungwise", "climb", str(folder), "--rungs", "baseline",
            "--store", str(tmp_path / "s.db"), "--concurrency", "1", *model]


def test_ctrl_c_while_the_server_is_silent(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, TRAIN, EVAL)
    with HostileServer("never_answers_chat", lifetime_s=60) as server:
        proc, took = _interrupt_when(_climb(folder, tmp_path, "--model", server.base_url, "--model-name", "m",
                                            "--timeout", "30"), lambda: server.chat_requests > 0, tmp_path)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr
    assert "interrupted" in proc.stderr and "resume" in proc.stderr
    assert took < BOUND_S, took


def test_ctrl_c_while_a_custom_metric_hangs(tmp_path: Path) -> None:
    toml = ('name = "t"\ninstruction = "Answer."\ntarget = 0.8\n[output]\ntype = "text"\n'
            '[metric]\nname = "custom"\nfunction = "slow:score"\ntimeout_s = 60\n[checks]\nnear_duplicates = false\n')
    folder = write_task(tmp_path / "t", toml, TRAIN, EVAL)
    started = tmp_path / "metric-started"
    (folder / "slow.py").write_text(
        "import pathlib, time\n"
        "def score(output, example):\n"
        f"    pathlib.Path({str(started)!r}).touch()\n"
        "    time.sleep(120)\n"
        "    return 1.0\n")
    proc, took = _interrupt_when(_climb(folder, tmp_path, "--model", "fake"), started.exists, tmp_path)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr
    assert took < BOUND_S, took


def test_sigterm_stores_what_finished_releases_the_run_and_exits_143(tmp_path: Path) -> None:
    """What CI runners, systemd and Kubernetes send: handled like Ctrl-C, with its own exit code."""
    eval_rows = [{"input": f"question {i}", "target": "billing"} for i in range(6)]
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, TRAIN, eval_rows)
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    with HostileServer("ok", delay_s=0.5, lifetime_s=90) as server:
        cmd = _climb(folder, tmp_path, "--model", server.base_url, "--model-name", "m", "--score-every-row")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while server.chat_requests < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.chat_requests >= 3, "the climb never reached its third row"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # to the process alone, as a runner's stop does
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
        assert proc.returncode == 143 and "Traceback" not in err, err
        assert "terminated (SIGTERM)" in err and "resume" in err
        assert took < BOUND_S, took
        from rungwise.store import Store
        with Store(tmp_path / "s.db") as store:
            (run,) = store.list_runs()
            stored = len(store.results(run.id))
            with store._read() as c:
                assert c.all("SELECT count(*) FROM run_leases")[0][0] == 0  # the lease is released
        assert stored >= 2, stored  # the answers that had arrived are kept
        sent_before = server.chat_requests
        again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "waiting" not in again.stderr  # no lease left behind to wait for
    assert server.chat_requests - sent_before == 6 - stored  # the rerun asks only for what was not stored
