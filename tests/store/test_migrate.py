"""`rungwise store migrate SRC DST`: a SQLite store copied into PostgreSQL reads back the same, twice is once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.fake import FakeModel
from rungwise.store import Store

from helpers import LABEL_EVAL, LABEL_TOML_EXACT, LABEL_TRAIN, write_task


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "rungwise", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)


def _everything(store: Store, run_id: str) -> tuple[object, ...]:
    info = store.get_run(run_id)
    return (info, store.variants(run_id), store.results(run_id), store.artifacts(run_id), store.load_report(run_id))


def test_a_sqlite_store_copied_into_postgres_reads_back_the_same(tmp_path: Path, pg_url: str) -> None:
    folder = write_task(tmp_path / "route", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    db = tmp_path / "s.db"
    options = ClimbOptions(rungs=["baseline", "prompt"], store_path=db)
    first = climb(folder, FakeModel(lambda r: "sales"), options)
    second = climb(folder, FakeModel(lambda r: "billing"), options.model_copy(update={"resume": False}))
    with Store(db) as s:
        s.add_artifact(first.run_id, "adapter", "lora", "a.gguf", {"base": "fp"})
        s.set_baseline("route", second.run_id)
        cached = s.count("response_cache")
    assert cached > 0

    proc = _cli(tmp_path, "store", "migrate", str(db), pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "copied" in proc.stdout and "results" in proc.stdout
    with Store(db) as src, Store(pg_url) as dst:
        for run in (first.run_id, second.run_id):
            assert _everything(dst, run) == _everything(src, run)
        assert [r.id for r in dst.list_runs()] == [r.id for r in src.list_runs()]
        assert dst.count("response_cache") == cached
        assert dst.count("results") == src.count("results")
        assert dst.baselines("route") == src.baselines("route") != []

    again = _cli(tmp_path, "store", "migrate", str(db), pg_url)  # twice is once: rows already there are kept
    assert again.returncode == 0, again.stderr
    with Store(pg_url) as dst, Store(db) as src:
        assert dst.count("results") == src.count("results") and dst.count("response_cache") == cached
    shown = _cli(tmp_path, "show", first.run_id, "--store", pg_url)
    assert shown.returncode == 0, shown.stderr

    # a climb on the team store now takes its answers from the copied cache
    model = FakeModel(lambda r: "sales")
    third = climb(folder, model, ClimbOptions(rungs=["baseline", "prompt"], store_path=pg_url, resume=False))
    assert model.calls == [] and third.to_dict()["cache_hits"] > 0


def test_rows_of_a_missing_run_are_left_out_and_counted(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "s.db"
    with Store(db) as s:
        run = s.create_run("t", "f", "h", "m", {})
        s.record_variant(run, "v", "baseline", {})
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO variants VALUES ('gone', 'v', 'baseline', '{}')")  # SQLite keeps no foreign keys
    conn.commit()
    conn.close()
    proc = _cli(tmp_path, "store", "migrate", str(db), pg_url)
    assert proc.returncode == 0, proc.stderr
    with Store(pg_url) as dst:
        assert dst.variants(run) == [("v", "baseline", {})] and dst.count("variants") == 1
    line = next(line for line in proc.stdout.splitlines() if "variants" in line)
    assert [cell.strip() for cell in line.split("│")[1:6]] == ["variants", "2", "1", "0", "1"]


def test_a_store_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    proc = _cli(tmp_path, "store", "migrate", str(tmp_path / "s.db"), "postgresql://u:hunter2-long@127.0.0.1:1/x")
    assert proc.returncode == 2 and "cannot be reached" in proc.stderr and "Traceback" not in proc.stderr
    assert "hunter2-long" not in proc.stdout + proc.stderr


def test_text_no_postgres_holds_is_copied_as_replacement_characters(tmp_path: Path, pg_url: str) -> None:
    """A NUL that SQLite kept (older stores, or any program that wrote one) never stops a migrate halfway."""
    folder = write_task(tmp_path / "route", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    db = tmp_path / "s.db"
    done = climb(folder, FakeModel(lambda r: "billing"), ClimbOptions(rungs=["baseline"], store_path=db))
    conn = sqlite3.connect(db)
    conn.execute("UPDATE results SET output = 'bill' || char(0) || 'ing'")
    conn.execute("UPDATE runs SET task_name = 'route' || char(0)")
    conn.commit()
    conn.close()
    proc = _cli(tmp_path, "store", "migrate", str(db), pg_url)
    assert proc.returncode == 0, proc.stderr
    with Store(db) as src, Store(pg_url) as dst:
        assert dst.count("results") == src.count("results") > 0
        assert {r.output for r in dst.results(done.run_id)} == {"bill\ufffding"}
        assert dst.get_run(done.run_id).task_name == "route\ufffd"
