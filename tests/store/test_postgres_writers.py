"""Several climbs, each a process of its own, writing to one PostgreSQL store at once (tests/store/climber.py: a
slow fake model that counts what it is asked). Nothing is lost, and no request is sent twice when climbs share
the store's response cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rungwise.store import Store

from helpers import LABEL_TOML_EXACT, write_task

CLIMBER = Path(__file__).with_name("climber.py")
ROWS = 10
TRAIN = [{"input": f"example number {w}", "target": "billing"} for w in ("one", "two", "three", "four")]


def _task(tmp_path: Path, name: str, words: str) -> Path:
    rows = [{"input": f"{words} question {i}", "target": "billing"} for i in range(ROWS)]
    return write_task(tmp_path / name, LABEL_TOML_EXACT, TRAIN, rows)


def _start(tmp_path: Path, folder: Path, url: str, delay: float, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.Popen([sys.executable, str(CLIMBER), str(folder), url, str(delay), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]), err


def _check_complete(store: Store, run_id: str) -> int:
    """Every variant of a finished run holds one row per eval row; returns the run's rows."""
    info = store.get_run(run_id)
    assert info.status == "done"
    rows = store.results(run_id)
    per_variant = Counter(r.variant for r in rows)
    assert per_variant and set(per_variant.values()) == {ROWS}, per_variant
    assert {name for name, _, _ in store.variants(run_id)} == set(per_variant)
    return len(rows)


def _wait_for_rows(url: str, at_least: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    with Store(url) as store:
        while time.monotonic() < deadline and proc.poll() is None:
            if store.count("results") >= at_least:
                return
            time.sleep(0.05)
    pytest.fail("the first climb finished (or stalled) before the second could overlap it")


def test_two_climbs_of_different_tasks_at_once_lose_nothing(pg_url: str, tmp_path: Path) -> None:
    a, b = _task(tmp_path, "a", "alpha"), _task(tmp_path, "b", "beta")
    procs = [_start(tmp_path, a, pg_url, 0.1), _start(tmp_path, b, pg_url, 0.1)]
    (ra, _), (rb, _) = _finish(procs[0]), _finish(procs[1])
    with Store(pg_url) as store:
        written = _check_complete(store, ra["run_id"]) + _check_complete(store, rb["run_id"])
        assert store.count("results") == written
        asked = ra["asked"] + rb["asked"]
        assert len(asked) == len(set(asked)) == ra["calls"] + rb["calls"] > 0
        assert store.count("response_cache") == len(asked)
    print(f"\n[different tasks] rows written {written}, lost 0, calls {len(asked)}, repeated calls "
          f"{len(asked) - len(set(asked))}")


def test_two_climbs_of_the_same_task_share_the_cache_and_never_ask_twice(pg_url: str, tmp_path: Path) -> None:
    folder = _task(tmp_path, "t", "same")
    first = _start(tmp_path, folder, pg_url, 0.25)
    _wait_for_rows(pg_url, 2, first)
    second = _start(tmp_path, folder, pg_url, 0.25)
    (r1, _), (r2, err2) = _finish(first), _finish(second)
    assert "waiting for it to finish" in err2
    with Store(pg_url) as store:
        written = _check_complete(store, r1["run_id"]) + _check_complete(store, r2["run_id"])
        assert r1["run_id"] != r2["run_id"] and r2["calls"] == 0 and r2["cache_hits"] == r1["calls"] > 0
        asked = r1["asked"] + r2["asked"]
        assert len(asked) == len(set(asked)) and store.count("response_cache") == len(asked)
    print(f"\n[same task, resume] rows written {written}, lost 0, calls {len(asked)}, repeated calls 0")


def test_two_separate_runs_of_the_same_task_at_once_write_one_cache_row_per_request(pg_url: str,
                                                                                   tmp_path: Path) -> None:
    """--new: each climb starts its own run at once, so both may ask the model the same request at the same
    moment; writing the same cache key from two processes is an upsert, never an error or a second row."""
    folder = _task(tmp_path, "t", "racing")
    procs = [_start(tmp_path, folder, pg_url, 0.05, "--new"), _start(tmp_path, folder, pg_url, 0.05, "--new")]
    (r1, _), (r2, _) = _finish(procs[0]), _finish(procs[1])
    with Store(pg_url) as store:
        assert r1["run_id"] != r2["run_id"]
        written = _check_complete(store, r1["run_id"]) + _check_complete(store, r2["run_id"])
        asked = r1["asked"] + r2["asked"]
        assert store.count("response_cache") == len(set(asked)) > 0
        assert r1["calls"] + r1["cache_hits"] == r2["calls"] + r2["cache_hits"]
    print(f"\n[same task, --new] rows written {written}, lost 0, calls {len(asked)}, distinct requests "
          f"{len(set(asked))}, cache rows {len(set(asked))}")
