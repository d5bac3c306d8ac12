"""Reliability: faults between rungwise and a real llama.cpp server, kill -9 midway, and secrets that never leak."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.embedded import MODEL_ALIAS, EmbeddedModel
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.store import Store

from e2e.faulty_proxy import FaultyProxy
from helpers import kill_9_after, small_banking77

ROOT = Path(__file__).resolve().parents[2]


def _task(tmp_path: Path, n: int) -> Path:
    return small_banking77(tmp_path, n, slice(None, None, 400))


def test_faults_do_not_change_results(embedded: EmbeddedModel, tmp_path: Path) -> None:
    folder = _task(tmp_path, 10)
    options = ClimbOptions(rungs=["baseline"], store_path=tmp_path / "clean.db")
    clean = climb(folder, embedded, options)
    root = (embedded.server.base_url or "").removesuffix("/v1")
    with FaultyProxy(root, rate=0.2, seed=7, stall_s=2.5) as proxy:
        model = OpenAIHttpModel(proxy.base_url, MODEL_ALIAS, timeout_s=1.5, backoff_s=0.05, max_retries=8,
                                max_concurrency=1)
        faulty = climb(folder, model, ClimbOptions(rungs=["baseline"], store_path=tmp_path / "faulty.db"))
    assert sum(proxy.injected.values()) >= 1, proxy.injected
    store_a, store_b = Store(tmp_path / "clean.db"), Store(tmp_path / "faulty.db")
    a = {r.example_id: r.output for r in store_a.results(clean.run_id)}
    b = {r.example_id: r.output for r in store_b.results(faulty.run_id)}
    assert len(a) == 10 and a == b
    assert [v.score for v in faulty.variants] == [v.score for v in clean.variants]


def test_kill_9_midway_then_resume(tmp_path: Path) -> None:
    folder = _task(tmp_path, 12)
    db = tmp_path / "kill.db"
    cmd = [sys.executable, "-m", "rungwise", "climb", str(folder), "--rungs", "baseline", "--store", str(db), "--json"]
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    def stored() -> int:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:  # never creates the file
            return int(conn.execute("SELECT count(*) FROM results").fetchone()[0])

    kill_9_after(proc, stored, 4)
    with sqlite3.connect(db) as conn:
        kept = dict(conn.execute("SELECT example_id, output FROM results").fetchall())
    assert 4 <= len(kept) < 12
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["resumed"] == len(kept)
    assert data["calls"] + data["cache_hits"] == 12 - len(kept)
    store = Store(db)
    rows = {r.example_id: r.output for r in store.results(data["run_id"])}
    assert len(rows) == 12 and all(rows[k] == v for k, v in kept.items())


def test_api_key_never_written(embedded: EmbeddedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-rungwise-test-" + "9f3a1c7e" * 4
    monkeypatch.setenv("RW_SECRET_KEY", secret)
    folder = _task(tmp_path, 3)
    root = (embedded.server.base_url or "").removesuffix("/v1")
    with FaultyProxy(root, rate=0.0, require_key=secret) as proxy:
        env = {**os.environ, "RW_SECRET_KEY": secret, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
        proc = subprocess.run(
            [sys.executable, "-m", "rungwise", "climb", str(folder), "--rungs", "baseline", "--model", proxy.base_url,
             "--model-name", MODEL_ALIAS, "--api-key-env", "RW_SECRET_KEY", "--store", str(tmp_path / "s.db"), "--json"],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert proc.returncode == 0, proc.stderr
        # the key did travel, in the Authorization header
        assert any(h.get("Authorization") == f"Bearer {secret}" for h in proxy.seen_headers)
    assert secret not in proc.stdout and secret not in proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
