"""The results store: runs, per-example results and the response cache, in SQLite (WAL).

Schema changes are append-only named migrations, so a store made by an older rungwise still opens.
Results are written as they arrive (the Runner groups the answers of up to 10 ms in one commit).
No secret is ever written here: requests hold messages and generation parameters only.

The store defends itself (`rungwise.store_guard`): its files carry a rungwise mark, another program's database is
refused before anything is written to it, a damaged one is refused with the way to recover, and SQLite's errors
(read-only, disk full) become one StoreError line. A climb holds a lease on its run (`rungwise.leases`), so a
second climb of the same run waits instead of repeating its calls.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rungwise import leases, store_guard
from rungwise.errors import StoreError
from rungwise.models.base import Completion

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_initial",
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            task_name TEXT NOT NULL,
            task_folder TEXT NOT NULL,
            task_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            settings_json TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            finished_at REAL,
            summary_json TEXT
        );
        CREATE TABLE results (
            run_id TEXT NOT NULL REFERENCES runs(id),
            variant TEXT NOT NULL,
            example_id TEXT NOT NULL,
            request_key TEXT,
            output TEXT NOT NULL,
            parsed TEXT,
            score REAL NOT NULL,
            failure TEXT,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            latency_s REAL NOT NULL,
            from_cache INTEGER NOT NULL,
            extras_json TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (run_id, variant, example_id)
        );
        CREATE TABLE response_cache (
            model TEXT NOT NULL,
            request_key TEXT NOT NULL,
            completion_json TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (model, request_key)
        );
        CREATE TABLE variants (
            run_id TEXT NOT NULL REFERENCES runs(id),
            variant TEXT NOT NULL,
            rung TEXT NOT NULL,
            config_json TEXT NOT NULL,
            PRIMARY KEY (run_id, variant)
        );
        """,
    ),
    (
        "002_artifacts",
        """
        CREATE TABLE artifacts (
            run_id TEXT NOT NULL REFERENCES runs(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            path TEXT NOT NULL,
            meta_json TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (run_id, name)
        );
        """,
    ),
    (
        "003_reports",
        """
        CREATE TABLE reports (
            run_id TEXT PRIMARY KEY REFERENCES runs(id),
            version INTEGER NOT NULL,
            json TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        """,
    ),
    (
        "004_run_leases",
        """
        CREATE TABLE run_leases (
            run_id TEXT PRIMARY KEY REFERENCES runs(id),
            owner TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            heartbeat_at REAL NOT NULL
        );
        """,
    ),
    (
        "005_served_model",
        """
        ALTER TABLE results ADD COLUMN served_model TEXT;
        ALTER TABLE results ADD COLUMN system_fingerprint TEXT;
        """,
    ),
]


#: the results table's columns, in the order `add_results` writes them
RESULT_COLUMNS = ("run_id, variant, example_id, request_key, output, parsed, score, failure, prompt_tokens, "
                  "completion_tokens, cached_tokens, latency_s, from_cache, extras_json, created_at, served_model, "
                  "system_fingerprint")


@dataclass(frozen=True)
class ResultRow:
    variant: str
    example_id: str
    output: str
    parsed: str | None
    score: float
    failure: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    latency_s: float
    from_cache: bool
    extras: dict[str, float]
    request_key: str | None = None
    #: the model the server said answered (the response's `model`), and its `system_fingerprint`
    served_model: str | None = None
    system_fingerprint: str | None = None


@dataclass(frozen=True)
class RunInfo:
    id: str
    task_name: str
    task_folder: str
    task_hash: str
    model: str
    settings: dict[str, Any]
    status: str
    created_at: float
    finished_at: float | None
    summary: dict[str, Any] | None


def _resumable(conn: sqlite3.Connection, task_hash: str, model: str, settings: dict[str, Any]) -> str | None:
    """The latest unfinished run of the same task, model and settings, if any."""
    row = conn.execute(
        "SELECT id FROM runs WHERE task_hash=? AND model=? AND settings_json=? AND status='running' "
        "ORDER BY created_at DESC LIMIT 1",
        (task_hash, model, json.dumps(settings, sort_keys=True)),
    ).fetchone()
    return row[0] if row else None


def _insert_run(conn: sqlite3.Connection, task_name: str, task_folder: str, task_hash: str, model: str,
                settings: dict[str, Any], now: float) -> str:
    """A new run, 'running', inside the caller's transaction; returns its id."""
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    conn.execute(
        "INSERT INTO runs (id, task_name, task_folder, task_hash, model, settings_json, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
        (run_id, task_name, task_folder, task_hash, model, json.dumps(settings, sort_keys=True), now),
    )
    return run_id


def default_store_path() -> Path:
    env = os.environ.get("RUNGWISE_STORE")
    return Path(env) if env else Path(".rungwise") / "rungwise.db"


class Store:
    """SQLite store. Safe to use from one process; writes are serialised by a lock."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_store_path()
        self._leases: dict[str, leases.Heartbeat] = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existed = self.path.is_file() and self.path.stat().st_size > 0
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            try:
                kind = store_guard.inspect(self._conn, self.path, existed=existed)  # reads only
            except StoreError:
                self._conn.close()
                raise
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as exc:
            raise store_guard.error(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a rungwise store ({exc}). Pass --store PATH to use another file.") from None
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"Cannot open the results store at {self.path}: {exc}. Pass --store PATH to use another.") from None
        self._lock = threading.Lock()
        self._migrate()
        if kind != "ours" or self._conn.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
            try:
                store_guard.stamp(self._conn, len(MIGRATIONS))
            except sqlite3.Error as exc:
                raise store_guard.error(self.path, exc) from None

    def _migrate(self) -> None:
        try:
            with self._lock:
                self._conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)")
                done = {r[0] for r in self._conn.execute("SELECT name FROM migrations")}
                known = {name for name, _ in MIGRATIONS}
                unknown = done - known
                if unknown:
                    raise StoreError(
                        f"The store {self.path} was written by a newer rungwise (migrations {sorted(unknown)}). "
                        "Upgrade rungwise, or pass --store PATH to start a new store."
                    )
                for name, sql in MIGRATIONS:
                    if name not in done:
                        self._conn.executescript("BEGIN;" + sql + f"INSERT INTO migrations VALUES ('{name}', {time.time()});COMMIT;")
        except sqlite3.OperationalError as exc:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise store_guard.error(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a rungwise store ({exc}). Pass --store PATH to use another file.") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; SQLite's errors (read-only, disk full, damaged) leave it as one StoreError."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_guard.error(self.path, exc) from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise store_guard.error(self.path, exc) from None
                raise

    def close(self) -> None:
        for run_id in list(self._leases):
            with suppress(StoreError, sqlite3.Error):
                self.release_lease(run_id)
        self._conn.close()

    # -- runs -----------------------------------------------------------------------------------
    def create_run(self, task_name: str, task_folder: str, task_hash: str, model: str, settings: dict[str, Any]) -> str:
        with self._tx() as c:
            return _insert_run(c, task_name, task_folder, task_hash, model, settings, time.time())

    def find_resumable(self, task_hash: str, model: str, settings: dict[str, Any]) -> str | None:
        """The latest unfinished run of the same task, model and settings, if any."""
        return _resumable(self._conn, task_hash, model, settings)

    def finish_run(self, run_id: str, summary: dict[str, Any], status: str = "done") -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status=?, finished_at=?, summary_json=? WHERE id=?",
                (status, time.time(), json.dumps(summary, sort_keys=True), run_id),
            )
        self.release_lease(run_id)

    # -- leases: one climb per run at a time (see rungwise.leases) --------------------------------
    def claim_run(self, task_name: str, task_folder: str, task_hash: str, model: str, settings: dict[str, Any], *,
                  resume: bool = True, notify: Any = None) -> str:
        """The run this climb works on, under its lease: the latest unfinished run of the same task, model and
        settings when `resume` and no live climb holds it, else a new run. When a live climb holds it, wait for
        that climb to finish (saying so once through `notify`, a callable taking a line), then look again: its
        run is then finished, and the new run is served its answers from the response cache."""
        owner = leases.me()
        said = False
        while True:
            run_id, holder = self._claim_once(task_name, task_folder, task_hash, model, settings, resume, owner)
            if holder is None:
                self._leases[run_id] = leases.Heartbeat(self.path, run_id, owner.id)
                return run_id
            if not said:
                said = True
                line = (f"another climb (pid {holder[1]} on {holder[0]}) is running this task with the same model and "
                        f"settings (run {run_id}); waiting for it to finish, then its answers come from the cache. "
                        "Ctrl-C to stop; --new starts a separate run at once.")
                if notify is not None:
                    notify(line)
                else:
                    import sys

                    print(f"rungwise: {line}", file=sys.stderr, flush=True)
            time.sleep(leases.POLL_S)

    def _claim_once(self, task_name: str, task_folder: str, task_hash: str, model: str, settings: dict[str, Any],
                    resume: bool, owner: leases.Owner) -> tuple[str, tuple[str, int] | None]:
        """In one write transaction: find or create the run, take its lease, or name the live holder."""
        now = time.time()
        with self._tx() as c:
            found = _resumable(c, task_hash, model, settings) if resume else None
            if found is not None:
                run_id = found
                held = c.execute("SELECT host, pid, heartbeat_at, owner FROM run_leases WHERE run_id=?", (run_id,)).fetchone()
                if held is not None and held[3] != owner.id and leases.is_live(held[0], held[1], held[2], now):
                    return run_id, (held[0], held[1])
            else:
                run_id = _insert_run(c, task_name, task_folder, task_hash, model, settings, now)
            c.execute("INSERT OR REPLACE INTO run_leases VALUES (?, ?, ?, ?, ?)",
                      (run_id, owner.id, owner.host, owner.pid, now))
        return run_id, None

    def release_lease(self, run_id: str) -> None:
        """Stop the heartbeat and drop this climb's lease on `run_id` (nothing when it holds none)."""
        beat = self._leases.pop(run_id, None)
        if beat is None:
            return
        beat.stop()
        with self._tx() as c:
            c.execute("DELETE FROM run_leases WHERE run_id=? AND owner=?", (run_id, beat.owner))

    def get_run(self, run_id: str) -> RunInfo:
        row = self._conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            matches = self._conn.execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\'",
                                         (run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",)).fetchall()
            if len(matches) == 1:
                return self.get_run(matches[0][0])
            if len(matches) > 1:
                shown = ", ".join(m[0] for m in matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
                raise StoreError(f"The run prefix {run_id!r} is ambiguous in {self.path}: it matches {shown}. "
                                 "Give more of the run id.")
            raise StoreError(f"No run {run_id!r} in {self.path}. List runs with: rungwise runs")
        cols = [d[0] for d in self._conn.execute("SELECT * FROM runs LIMIT 0").description]
        d = dict(zip(cols, row))
        return RunInfo(
            id=d["id"], task_name=d["task_name"], task_folder=d["task_folder"], task_hash=d["task_hash"],
            model=d["model"], settings=json.loads(d["settings_json"]), status=d["status"],
            created_at=d["created_at"], finished_at=d["finished_at"],
            summary=json.loads(d["summary_json"]) if d["summary_json"] else None,
        )

    def list_runs(self, limit: int = 50) -> list[RunInfo]:
        ids = [r[0] for r in self._conn.execute("SELECT id FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))]
        return [self.get_run(i) for i in ids]

    # -- variants and results ---------------------------------------------------------------------
    def record_variant(self, run_id: str, variant: str, rung: str, config: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO variants VALUES (?, ?, ?, ?)",
                (run_id, variant, rung, json.dumps(config, sort_keys=True, default=str)),
            )

    def variants(self, run_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        rows = self._conn.execute("SELECT variant, rung, config_json FROM variants WHERE run_id=? ORDER BY rowid", (run_id,))
        return [(v, r, json.loads(c)) for v, r, c in rows]

    def add_result(self, run_id: str, row: ResultRow, *, cache: tuple[str, Completion] | None = None) -> None:
        """Record one result; with `cache=(model fingerprint, completion)` also cache the response under
        `row.request_key`, in the same transaction (one commit per answer)."""
        self.add_results(run_id, [(row, cache)])

    def add_results(self, run_id: str, rows: Sequence[tuple[ResultRow, tuple[str, Completion] | None]]) -> None:
        """Record several results, each with its optional response to cache, in one transaction."""
        if not rows:
            return
        now = time.time()
        cached = [
            (cache[0], row.request_key, json.dumps(vars(cache[1])), now)  # vars: asdict deep-copies
            for row, cache in rows
            if cache is not None and row.request_key is not None
        ]
        results = [
            (
                run_id, row.variant, row.example_id, row.request_key, row.output, row.parsed, row.score,
                row.failure, row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.latency_s,
                int(row.from_cache), json.dumps(row.extras, sort_keys=True), now, row.served_model,
                row.system_fingerprint,
            )
            for row, _ in rows
        ]
        with self._tx() as c:
            if cached:
                c.executemany("INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?)", cached)
            c.executemany(f"INSERT OR REPLACE INTO results ({RESULT_COLUMNS}) VALUES ({','.join('?' * 17)})", results)

    def results(self, run_id: str, variant: str | None = None) -> list[ResultRow]:
        sql = ("SELECT variant, example_id, output, parsed, score, failure, prompt_tokens, completion_tokens, "
               "cached_tokens, latency_s, from_cache, extras_json, request_key, served_model, system_fingerprint "
               "FROM results WHERE run_id=?")
        args: tuple[Any, ...] = (run_id,)
        if variant is not None:
            sql += " AND variant=?"
            args += (variant,)
        return [
            ResultRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]), json.loads(r[11]), r[12],
                      r[13], r[14])
            for r in self._conn.execute(sql + " ORDER BY rowid", args)
        ]

    def done_examples(self, run_id: str, variant: str) -> set[str]:
        # a row the server failed (a malformed answer) is not done: a resumed run asks again
        rows = self._conn.execute("SELECT example_id FROM results WHERE run_id=? AND variant=? "
                                  "AND (failure IS NULL OR failure != 'server')", (run_id, variant))
        return {r[0] for r in rows}

    # -- response cache ---------------------------------------------------------------------------
    def cached(self, model: str, request_key: str) -> Completion | None:
        row = self._conn.execute(
            "SELECT completion_json FROM response_cache WHERE model=? AND request_key=?", (model, request_key)
        ).fetchone()
        if row is None:
            return None
        return Completion(**json.loads(row[0]))

    def cache_many(self, model: str, keys: list[str]) -> dict[str, Completion]:
        """Cached completions for many request keys at once (one query per 500 keys)."""
        found: dict[str, Completion] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._conn.execute(
                f"SELECT request_key, completion_json FROM response_cache WHERE model=? AND request_key IN ({marks})",
                (model, *chunk),
            ):
                found[key] = Completion(**json.loads(blob))
        return found

    def put_cache(self, model: str, request_key: str, completion: Completion) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?)",
                (model, request_key, json.dumps(asdict(completion)), time.time()),
            )

    # -- artifacts (adapters, indexes) --------------------------------------------------------------
    def add_artifact(self, run_id: str, name: str, kind: str, path: str, meta: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO artifacts VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, name, kind, path, json.dumps(meta, sort_keys=True), time.time()),
            )

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._conn.execute("SELECT name, kind, path, meta_json FROM artifacts WHERE run_id=?", (run_id,))
        return [{"name": n, "kind": k, "path": p, "meta": json.loads(m)} for n, k, p, m in rows]

    # -- reports (the versioned record a stored run is rendered from) -------------------------------------
    def save_report(self, run_id: str, version: int, blob: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO reports VALUES (?, ?, ?, ?)", (run_id, version, blob, time.time()))

    def load_report(self, run_id: str) -> tuple[int, str] | None:
        """(version, json) of the run's stored report record, or None when the run has none."""
        row = self._conn.execute("SELECT version, json FROM reports WHERE run_id=?", (run_id,)).fetchone()
        return (int(row[0]), row[1]) if row else None
