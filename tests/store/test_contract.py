"""The store contract, run against both backends: SQLite (a file) and PostgreSQL (a real server, tests/pg_server.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rungwise.errors import ForeignStore, MissingExtra, StoreError
from rungwise.models.base import Completion
from rungwise.store import MIGRATIONS, PostgresStore, ResultRow, SQLiteStore, Store, leases


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def any_store(target: str) -> Iterator[Store]:
    s = Store(target)
    yield s
    s.close()


def _row(i: int, output: str = "out", *, variant: str = "v", failure: str | None = None) -> ResultRow:
    return ResultRow(variant, f"e{i}", output, output, 0.5 + i / 1000, failure, 10, 2, 1, 0.125, False,
                     {"x": 1.0}, f"k{i}")


def test_the_target_picks_the_backend(target: str, any_store: Store) -> None:
    assert isinstance(any_store, PostgresStore if target.startswith("postgresql://") else SQLiteStore)
    assert any_store.columns("results")[:3] == ["run_id", "variant", "example_id"]


def test_migrations_apply_once_and_the_store_reopens(target: str) -> None:
    s = Store(target)
    run = s.create_run("t", "f", "h", "m", {"a": 1})
    s.add_result(run, _row(1))
    s.close()
    with Store(target) as again, again._read() as c:
        names = [r[0] for r in c.all("SELECT name FROM migrations ORDER BY name")]
        assert names == [name for name, _ in MIGRATIONS]
        assert again.results(run)[0] == _row(1)


def test_a_newer_store_is_refused(target: str) -> None:
    with Store(target) as s, s._tx() as c:
        c.run("INSERT INTO migrations VALUES ('999_future', 0)")
    with pytest.raises(StoreError, match=r"newer rungwise \(migrations \['999_future'\]\)\. Upgrade rungwise"):
        Store(target)


def test_runs_resume_finish_and_prefixes(any_store: Store) -> None:
    run = any_store.create_run("t", "f", "h", "m", {"a": 1})
    assert any_store.find_resumable("h", "m", {"a": 1}) == run
    assert any_store.find_resumable("h", "m", {"a": 2}) is None
    info = any_store.get_run(run[:15])
    assert (info.id, info.status, info.settings, info.summary) == (run, "running", {"a": 1}, None)
    any_store.finish_run(run, {"ok": True})
    assert any_store.find_resumable("h", "m", {"a": 1}) is None
    done = any_store.get_run(run)
    assert done.summary == {"ok": True} and done.status == "done" and done.finished_at >= done.created_at  # type: ignore[operator]
    other = any_store.create_run("t2", "f", "h2", "m", {})
    assert [r.id for r in any_store.list_runs()] == [other, run]
    with pytest.raises(StoreError, match="ambiguous"):
        any_store.get_run(os.path.commonprefix([run, other]))
    with pytest.raises(StoreError, match="No run"):
        any_store.get_run("%")
    with pytest.raises(StoreError, match="No run"):
        any_store.get_run("nope")


def test_results_keep_their_order_and_a_rewrite_replaces(any_store: Store) -> None:
    run = any_store.create_run("t", "f", "h", "m", {})
    any_store.add_results(run, [(_row(i), None) for i in (3, 1, 2)])
    any_store.add_results(run, [(_row(0, variant="w"), None)])
    assert [r.example_id for r in any_store.results(run)] == ["e3", "e1", "e2", "e0"]
    assert [r.example_id for r in any_store.results(run, "v")] == ["e3", "e1", "e2"]
    any_store.add_result(run, _row(1, "again"))
    assert {r.example_id: r.output for r in any_store.results(run, "v")}["e1"] == "again"
    assert len(any_store.results(run)) == 4
    any_store.add_result(run, _row(4, failure="server"))
    assert any_store.done_examples(run, "v") == {"e1", "e2", "e3"}
    any_store.record_variant(run, "v", "prompt", {"k": 1})
    any_store.record_variant(run, "w", "fewshot", {"k": 2})
    any_store.record_variant(run, "v", "prompt", {"k": 3})
    assert sorted(any_store.variants(run)) == [("v", "prompt", {"k": 3}), ("w", "fewshot", {"k": 2})]


def test_the_response_cache_is_an_upsert_that_keeps_the_first_answer(any_store: Store) -> None:
    first, second = Completion("hello", 5, 1, 0.2, cached_tokens=3), Completion("other", 1, 1, 0.1)
    any_store.put_cache("m", "k1", first)
    any_store.put_cache("m", "k1", second)  # another climb's answer to the same request: no error, no second row
    assert any_store.cached("m", "k1") == first
    assert any_store.cached("other-model", "k1") is None
    assert any_store.cache_many("m", ["k1", "k2"]) == {"k1": first}
    run = any_store.create_run("t", "f", "h", "m", {})
    # two rows answered by the same request, in one transaction, and a key already cached
    same = [ResultRow(v, "e1", "o", "o", 1.0, None, 1, 1, 0, 0.1, False, {}, "k3") for v in ("v", "w")]
    any_store.add_results(run, [(row, ("m", second)) for row in same])
    any_store.add_results(run, [(ResultRow("v", "e9", "o", "o", 1.0, None, 1, 1, 0, 0.1, False, {}, "k1"),
                                 ("m", second))])
    assert any_store.cache_many("m", ["k1", "k2", "k3"]) == {"k1": first, "k3": second}
    assert any_store.count("response_cache") == 2 and len(any_store.results(run)) == 3
    assert any_store.cache_many("m", [f"k{i}" for i in range(1200)]) == {"k1": first, "k3": second}


def test_artifacts_and_reports(any_store: Store) -> None:
    run = any_store.create_run("t", "f", "h", "m", {})
    any_store.add_artifact(run, "adapter", "lora", "a.gguf", {"base": "fp"})
    any_store.add_artifact(run, "adapter", "lora", "b.gguf", {"base": "fp2"})
    assert any_store.artifacts(run) == [{"name": "adapter", "kind": "lora", "path": "b.gguf", "meta": {"base": "fp2"}}]
    assert any_store.load_report(run) is None
    any_store.save_report(run, 1, '{"a": 1}')
    any_store.save_report(run, 2, '{"a": 2}')
    assert any_store.load_report(run) == (2, '{"a": 2}')


def test_timestamps_keep_their_precision(any_store: Store) -> None:
    run = any_store.create_run("t", "f", "h", "m", {})
    info = any_store.get_run(run)
    assert abs(info.created_at - __import__("time").time()) < 60
    assert info.created_at != round(info.created_at)  # a float of 6 digits would have lost the fraction


def test_a_live_lease_makes_a_second_claim_wait(target: str) -> None:
    first, second = Store(target), Store(target)
    run = first.claim_run("t", "f", "h", "m", {})
    holder = second._claim_once("t", "f", "h", "m", {}, True, leases.me())[1]
    assert holder is not None and holder[1] == os.getpid()
    first.finish_run(run, {})
    other = second.claim_run("t", "f", "h", "m", {})
    assert other != run
    second.close()
    first.close()


def test_credentials_never_reach_a_message(pg_server: object) -> None:
    secret = "pw-" + "5e1d" * 6
    with pytest.raises(StoreError) as err:
        Store(f"postgresql://someone:{secret}@127.0.0.1:1/db?sslmode=disable")
    assert secret not in str(err.value) and "postgresql://***@127.0.0.1:1/db" in str(err.value)


def test_a_foreign_postgres_database_is_refused_and_left_untouched(pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER, note TEXT)")
        conn.execute("INSERT INTO runs VALUES (1, 'theirs')")
    with pytest.raises(ForeignStore, match="not a rungwise store; rungwise wrote nothing"):
        Store(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")]
        assert tables == ["runs"]
        conn.execute("CREATE TABLE migrations (name TEXT)")
    with pytest.raises(ForeignStore, match="not rungwise's"):
        Store(pg_url)


def test_without_psycopg_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtra, match=r"pip install 'rungwise\[postgres\]'"):
        Store("postgresql://127.0.0.1:1/db")


def test_other_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="neither a file path nor a postgresql:// URL"):
        Store(f"mysql://user:{'x' * 8}@host/db")
    s = Store(tmp_path / "s.db")
    assert isinstance(s, SQLiteStore)
    s.close()


def test_baselines_keep_their_history(any_store: Store) -> None:
    assert any_store.baseline("t") is None and any_store.baselines("t") == []
    first, second = any_store.create_run("t", "f", "h", "m", {}), any_store.create_run("t", "f", "h", "m", {})
    for run in (first, second):
        any_store.finish_run(run, {})
    any_store.set_baseline("t", first)
    any_store.set_baseline("t", second)
    assert any_store.baseline("t") == second
    assert [run for run, _ in any_store.baselines("t")] == [second, first]
    assert any_store.baseline("other") is None


def test_a_connection_the_server_dropped_is_made_again(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long fine-tune leaves the connection idle; a server restart or idle timeout closes it meanwhile."""
    import time

    import psycopg

    from rungwise.store import postgres

    monkeypatch.setattr(postgres, "IDLE_CHECK_S", 0.0)
    with Store(pg_url) as s:
        run = s.create_run("t", "f", "h", "m", {})
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name = 'rungwise' AND pid <> pg_backend_pid()").fetchall()
        assert killed == [(True,)]
        time.sleep(0.2)
        assert s.get_run(run).id == run
        s.add_result(run, _row(1))
        assert s.results(run) == [_row(1)]


def test_a_password_in_the_store_url_reaches_no_file_table_or_output(pg_url: str, tmp_path: Path) -> None:
    import subprocess

    import psycopg

    from helpers import LABEL_EVAL, LABEL_TOML_EXACT, LABEL_TRAIN, write_task

    secret = "pw-" + "a9c3" * 6
    url = pg_url.replace("rungwise@", f"rungwise:{secret}@")  # the test server trusts loopback: any password works
    folder = write_task(tmp_path / "route", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache"), "RUNGWISE_STORE": url}
    outputs = []
    for args in (["climb", str(folder), "--model", "fake", "--rungs", "baseline", "--report", str(tmp_path / "r.html")],
                 ["runs"], ["show", "2"], ["climb", str(folder), "--model", "fake", "--store", url + "_missing"]):
        proc = subprocess.run([sys.executable, "-m", "rungwise", *args], capture_output=True, text=True, timeout=120,
                              env=env, cwd=tmp_path)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == (2 if args[-1].endswith("_missing") else 0), proc.stderr
    assert "postgresql://***@127.0.0.1" in outputs[-1] and "cannot be reached" in outputs[-1]
    assert all(secret not in text for text in outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                assert secret not in repr(row), table


def test_a_store_of_an_earlier_rungwise_is_brought_up_to_date(target: str) -> None:
    with Store(target) as s, s._tx() as c:  # as the rungwise before 006_baselines left it
        c.run("DROP TABLE baselines")
        c.run("DELETE FROM migrations WHERE name = '006_baselines'")
    with Store(target) as s:
        run = s.create_run("t", "f", "h", "m", {})
        s.finish_run(run, {})
        s.set_baseline("t", run)
        assert s.baseline("t") == run
        with s._read() as c:
            assert [r[0] for r in c.all("SELECT name FROM migrations ORDER BY name")] == [n for n, _ in MIGRATIONS]


def test_the_lease_heartbeat_renews(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(leases, "HEARTBEAT_S", 0.05)
    with Store(target) as s:
        run = s.claim_run("t", "f", "h", "m", {})
        with s._read() as c:
            first = c.all("SELECT heartbeat_at FROM run_leases WHERE run_id=?", (run,))[0][0]
        time.sleep(0.5)
        with s._read() as c:
            assert c.all("SELECT heartbeat_at FROM run_leases WHERE run_id=?", (run,))[0][0] > first
        s.finish_run(run, {})
        assert s.count("run_leases") == 0


def test_the_postgres_heartbeat_keeps_one_connection(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every beat on one side connection, kept between beats (not a connection each few seconds); one that failed
    is made again on the next beat, and closing the store closes it."""
    import time

    monkeypatch.setattr(leases, "HEARTBEAT_S", 0.05)
    s = Store(pg_url)
    assert isinstance(s, PostgresStore)
    run = s.claim_run("t", "f", "h", "m", {})

    def beat_at() -> float:
        with s._read() as c:
            return float(c.all("SELECT heartbeat_at FROM run_leases WHERE run_id=?", (run,))[0][0])

    time.sleep(0.3)
    side = s._side
    assert side is not None and not side.closed
    before = beat_at()
    time.sleep(0.3)
    assert s._side is side and beat_at() > before  # renewed on the same connection
    side.close()  # as if the server dropped it
    before = beat_at()
    time.sleep(0.4)
    assert s._side is not None and s._side is not side and beat_at() > before
    kept = s._side
    s.close()
    assert s._side is None and kept.closed


def test_migrations_are_named_in_order_and_written_for_both_dialects() -> None:
    import re

    from rungwise.store.migrations import POSTGRES, postgres_sql

    names = [name for name, _ in MIGRATIONS]
    assert len(set(names)) == len(names) and names == sorted(names)
    assert all(re.fullmatch(r"\d{3}_[a-z0-9_]+", name) for name in names)
    assert set(POSTGRES) <= set(names)
    for name, sql in MIGRATIONS:
        assert not re.search(r"\bREAL\b", postgres_sql(name, sql)), name  # PostgreSQL's REAL holds 6 digits


def test_scan_reads_every_row_in_order_a_batch_at_a_time(any_store: Store) -> None:
    run = any_store.create_run("t", "f", "h", "m", {})
    any_store.add_results(run, [(_row(i), None) for i in (5, 3, 9, 1, 7)])
    any_store.put_cache("m", "b", Completion("x", 1, 1, 0.1))
    any_store.put_cache("m", "a", Completion("y", 1, 1, 0.1))
    any_store.put_cache("l", "z", Completion("z", 1, 1, 0.1))
    batches = list(any_store.scan("results", ["example_id"], batch=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [r[0] for b in batches for r in b] == ["e5", "e3", "e9", "e1", "e7"]
    cache = [r for b in any_store.scan("response_cache", ["model", "request_key"], batch=2) for r in b]
    assert cache == [("l", "z"), ("m", "a"), ("m", "b")]
    assert list(any_store.scan("reports", ["run_id"])) == []
