from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rungwise.errors import StoreError
from rungwise.models.base import Completion
from rungwise.store import MIGRATIONS, ResultRow, Store


def _row(i: int) -> ResultRow:
    return ResultRow("v", f"eval:L{i}", "out", "out", 1.0, None, 10, 2, 0, 0.1, False, {"x": 1.0}, "k")


def test_migrations_apply_once_and_store_reopens(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = Store(path)
    run = s.create_run("t", "f", "h", "m", {"a": 1})
    s.add_result(run, _row(1))
    s.close()
    s2 = Store(path)
    names = [r[0] for r in s2._conn.execute("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    assert s2.results(run)[0].extras == {"x": 1.0}
    s2.close()


def test_an_old_store_is_migrated(tmp_path: Path) -> None:
    """A store written before every migration but the first, holding a run and a result in that schema: opened,
    it gains every later migration once, in order, and what it held reads back beside what only they allow."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    conn.executescript(MIGRATIONS[0][1])
    conn.execute("INSERT INTO migrations VALUES (?, 0)", (MIGRATIONS[0][0],))
    conn.execute("INSERT INTO runs VALUES ('old-run', 't', 'f', 'h', 'm', '{\"a\": 1}', 'done', 1.0, 2.0, "
                 "'{\"shipped\": \"v\"}')")
    conn.execute("INSERT INTO results VALUES ('old-run', 'v', 'eval:L1', 'k', 'out', 'out', 1.0, NULL, 10, 2, 0, "
                 "0.1, 0, '{\"x\": 1.0}', 1.5)")
    conn.commit()
    conn.close()
    s = Store(path)
    names = [r[0] for r in s._conn.execute("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS] and len(names) > 1
    old = s.get_run("old-run")
    assert (old.task_name, old.status, old.settings, old.summary) == ("t", "done", {"a": 1}, {"shipped": "v"})
    row = s.results("old-run")[0]
    assert row == _row(1) and row.served_model is None  # the columns a later migration added read as unknown
    s.add_artifact("old-run", "adapter", "lora", "a.gguf", {"base_model": "b"})  # tables of later migrations
    s.set_baseline("t", "old-run")
    s.close()
    again = Store(path)  # reopened: nothing applied twice, everything still there
    assert [r[0] for r in again._conn.execute("SELECT name FROM migrations ORDER BY name")] == names
    assert [(a["name"], a["meta"]) for a in again.artifacts("old-run")] == [("adapter", {"base_model": "b"})]
    assert [run for run, _ in again.baselines("t")] == ["old-run"] and again.results("old-run") == [row]
    again.close()


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO migrations VALUES ('999_future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer rungwise"):
        Store(path)


def test_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a rungwise store"):
        Store(path)


def test_cache_and_resume_lookup(store: Store) -> None:
    c = Completion("hello", 5, 1, 0.2, cached_tokens=3)
    store.put_cache("m", "k1", c)
    assert store.cached("m", "k1") == c
    assert store.cached("other-model", "k1") is None
    assert store.cache_many("m", ["k1", "k2"]) == {"k1": c}
    run = store.create_run("t", "f", "h", "m", {"a": 1})
    assert store.find_resumable("h", "m", {"a": 1}) == run
    assert store.find_resumable("h", "m", {"a": 2}) is None
    store.finish_run(run, {"ok": True})
    assert store.find_resumable("h", "m", {"a": 1}) is None
    assert store.get_run(run[:15]).summary == {"ok": True}
    with pytest.raises(StoreError, match="No run"):
        store.get_run("nope")


def test_request_key_is_the_hash_of_every_field() -> None:
    import dataclasses
    import hashlib
    import json

    from rungwise.models.base import Message, Request

    req = Request((Message("system", "s"), Message("user", "u")), max_tokens=5, stop=("\n",),
                  json_schema={"type": "string", "enum": ["a", "b"]}, grammar='root ::= "a"')
    assert req.to_dict().keys() == {f.name for f in dataclasses.fields(Request)}
    full = dataclasses.asdict(req)
    full["stop"] = list(req.stop)
    full["messages"] = [dataclasses.asdict(m) for m in req.messages]
    blob = json.dumps(full, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert req.key() == hashlib.sha256(blob.encode()).hexdigest()  # caches written before stay valid
    assert req.key() != dataclasses.replace(req, temperature=0.5).key()
