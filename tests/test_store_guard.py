"""The store defends itself: foreign databases, damaged files, full disks, overlapping climbs, ambiguous prefixes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rungwise.errors import ForeignStore, StoreError
from rungwise.store import MIGRATIONS, ResultRow, Store
from rungwise.store.guard import APPLICATION_ID

from helpers import LABEL_TOML_EXACT, write_task


def _row(i: int, output: str = "out") -> ResultRow:
    return ResultRow("v", f"e{i}", output, output, 1.0, None, 10, 2, 0, 0.1, False, {}, f"k{i}")


def test_a_new_store_is_marked(tmp_path: Path) -> None:
    Store(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


@pytest.mark.parametrize("app_id", [0, 1234])
def test_a_foreign_database_is_refused_and_left_untouched(tmp_path: Path, app_id: int) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {app_id}")
    conn.execute("CREATE TABLE runs (id INTEGER, note TEXT)")  # a name clash, too
    conn.execute("INSERT INTO runs VALUES (1, 'theirs')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ForeignStore, match="another program's SQLite database.*wrote nothing"):
        Store(path)
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists() and not Path(str(path) + "-journal").exists()


def test_an_unmarked_rungwise_store_is_accepted_and_marked(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, sql in MIGRATIONS[:2]:
        conn.executescript(sql)
        conn.execute("INSERT INTO migrations VALUES (?, 0)", (name,))
    conn.commit()
    conn.close()
    Store(path).close()
    assert sqlite3.connect(path).execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def _damage(path: Path) -> None:
    s = Store(path)
    run = s.create_run("t", "f", "h", "m", {})
    s.add_results(run, [(_row(i, "x" * 3000), None) for i in range(200)])
    s.close()
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 3, len(data) - 4096, 4096 * 7):  # scribble over some pages, not the header
        data[offset:offset + 200] = os.urandom(200)
    path.write_bytes(bytes(data))


def test_a_damaged_store_is_refused_with_the_way_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _damage(path)
    with pytest.raises(StoreError, match=r"damaged.*mv .*--store"):
        Store(path)
    proc = subprocess.run([sys.executable, "-m", "rungwise", "runs", "--store", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "damaged" in proc.stderr and "Traceback" not in proc.stderr


def test_a_full_disk_is_one_store_error(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.db")
    run = s.create_run("t", "f", "h", "m", {})
    pages = s._conn.execute("PRAGMA page_count").fetchone()[0]
    s._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StoreError, match="is full.*--store"):
        s.add_results(run, [(_row(i, "y" * 5000), None) for i in range(50)])
    s.close()


def test_a_read_only_store_is_one_store_error(tmp_path: Path) -> None:
    from rungwise.store import guard as store_guard

    err = store_guard.error(tmp_path / "s.db", sqlite3.OperationalError("attempt to write a readonly database"))
    assert "read-only" in str(err) and "--store" in str(err)


def _without_file_override() -> list[str]:
    """A prefix that makes file modes bind the child: nothing for a user, and for root (which ignores them) the
    same process with CAP_DAC_OVERRIDE dropped."""
    if os.geteuid() != 0:
        return []
    if not Path("/usr/bin/setpriv").exists():
        pytest.skip("running as root without setpriv (util-linux): file modes cannot bind this process")
    caps = "-dac_override,-dac_read_search"
    return ["/usr/bin/setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_a_climb_on_a_read_only_store_stops_with_one_line_and_changes_nothing(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, [{"input": "a b", "target": "billing"}] * 3,
                        [{"input": f"q {i}", "target": "billing"} for i in range(3)])
    cmd = [sys.executable, "-m", "rungwise", "climb", str(folder), "--model", "fake", "--rungs", "baseline",
           "--store", str(tmp_path / "ro" / "s.db")]
    (tmp_path / "ro").mkdir()
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=120).returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "ro").iterdir()}
    for p in (tmp_path / "ro").iterdir():
        p.chmod(0o444)
    (tmp_path / "ro").chmod(0o555)
    try:
        proc = subprocess.run([*_without_file_override(), *cmd, "--new"], capture_output=True, text=True, timeout=120)
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "read-only" in lines[0] and "--store" in lines[0], proc.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "ro").iterdir()} == before


def test_an_ambiguous_run_prefix_lists_the_runs(store: Store) -> None:
    a = store.create_run("t", "f", "h", "m", {})
    b = store.create_run("t", "f", "h", "m", {})
    prefix = os.path.commonprefix([a, b])
    with pytest.raises(StoreError, match="ambiguous") as err:
        store.get_run(prefix)
    assert a in str(err.value) and b in str(err.value)
    with pytest.raises(StoreError, match="No run"):
        store.get_run("%")


def test_a_live_lease_makes_a_second_claim_wait(tmp_path: Path) -> None:
    """In one process, a second Store stands for a second climb: it waits while the lease lives."""
    first, second = Store(tmp_path / "s.db"), Store(tmp_path / "s.db")
    run = first.claim_run("t", "f", "h", "m", {})
    assert second._claim_once("t", "f", "h", "m", {}, True, __import__("rungwise.store.leases").store.leases.me())[1] is not None
    first.finish_run(run, {})
    other = second.claim_run("t", "f", "h", "m", {})
    assert other != run
    second.close()
    first.close()


TOML = LABEL_TOML_EXACT.replace("target = 0.8", "target = 0.99")


def test_two_overlapping_climbs_never_send_the_same_request_twice(tmp_path: Path) -> None:
    from e2e.hostile_server import HostileServer

    train = [{"input": f"example number {w}", "target": "billing"} for w in ("one", "two", "three", "four")]
    rows = [{"input": f"question {i}", "target": "billing"} for i in range(6)]
    folder = write_task(tmp_path / "t", TOML, train, rows)
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    with HostileServer("ok", delay_s=0.5, lifetime_s=120) as server:
        cmd = [sys.executable, "-m", "rungwise", "climb", str(folder), "--rungs", "baseline,prompt", "--model",
               server.base_url, "--model-name", "m", "--store", str(tmp_path / "s.db"), "--concurrency", "1", "--json"]
        first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 60
        while server.chat_requests < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    assert "waiting for it to finish" in second.stderr
    assert len(server.bodies) == len(set(server.bodies)), "a request was sent twice"
    a, b = json.loads(out), json.loads(second.stdout)
    assert a["run_id"] != b["run_id"] and b["calls"] == 0 and b["cache_hits"] == a["calls"] > 0
