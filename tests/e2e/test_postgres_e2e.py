"""The real embedded model climbing into a PostgreSQL store: a climb, its report and terminal view read back from
the database, and a kill -9 midway that loses no committed answer and repeats no completed call on resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.embedded import EmbeddedModel
from rungwise.store import Store

from helpers import kill_9_after, small_banking77


def _rows(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return dict(conn.execute("SELECT example_id, output FROM results").fetchall())


@pytest.mark.slow
def test_a_climb_on_postgres_reads_back_like_sqlite(embedded: EmbeddedModel, pg_url: str, tmp_path: Path) -> None:
    folder = small_banking77(tmp_path, 6, slice(None, None, 400))
    options = ClimbOptions(rungs=["baseline", "prompt"], all_rungs=True)
    on_pg = climb(folder, embedded, options.model_copy(update={"store_path": pg_url}))
    on_file = climb(folder, embedded, options.model_copy(update={"store_path": tmp_path / "s.db"}))
    with Store(pg_url) as pg, Store(tmp_path / "s.db") as file:
        a, b = pg.results(on_pg.run_id), file.results(on_file.run_id)
        assert len(a) == len(b) >= 12
        assert [(r.variant, r.example_id, r.output) for r in a] == [(r.variant, r.example_id, r.output) for r in b]
        assert pg.load_report(on_pg.run_id) is not None
    assert on_file.to_dict()["calls"] == on_pg.to_dict()["calls"] > 0
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["show", on_pg.run_id], ["report", on_pg.run_id, "-o", str(tmp_path / "r.html")],
                 ["compare", on_file.run_id, on_pg.run_id], ["runs"]):
        proc = subprocess.run([sys.executable, "-m", "rungwise", *args, "--store", pg_url], capture_output=True,
                              text=True, timeout=120, env=env)
        if args[0] == "compare":  # the SQLite run is not in the PostgreSQL store
            assert proc.returncode == 2 and "No run" in proc.stderr
        else:
            assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_kill_9_midway_on_postgres_then_resume(pg_url: str, tmp_path: Path) -> None:
    folder = small_banking77(tmp_path, 12, slice(None, None, 400))
    cmd = [sys.executable, "-m", "rungwise", "climb", str(folder), "--rungs", "baseline", "--store", pg_url, "--json"]
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    kill_9_after(proc, lambda: len(_rows(pg_url)), 4)
    kept = _rows(pg_url)
    assert 4 <= len(kept) < 12
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["resumed"] == len(kept)
    assert data["calls"] + data["cache_hits"] == 12 - len(kept)
    with Store(pg_url) as store:
        rows = {r.example_id: r.output for r in store.results(data["run_id"])}
        assert len(rows) == 12 and all(rows[k] == v for k, v in kept.items())
        assert store.count("run_leases") == 0
    print(f"\n[kill -9 on PostgreSQL] kept {len(kept)} of 12 answers, resumed {data['resumed']}, new calls "
          f"{data['calls']}, cache hits {data['cache_hits']}, repeated calls 0")
