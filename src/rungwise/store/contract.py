"""The store contract: what every backend keeps, and the one place its queries are written.

`Store` is the contract and the way to open one: `Store(target)` returns the backend the target names,

    None                              $RUNGWISE_STORE, else .rungwise/rungwise.db
    a path                            SQLite (`rungwise.store.sqlite`), the default for one user
    postgresql://... (postgres://)    PostgreSQL (`rungwise.store.postgres`), a store a team shares

and every backend answers the same public methods (runs, leases, variants, results, the response cache,
artifacts, reports). The queries are written here once, with `?` placeholders; a backend supplies a handful of
primitives (a write transaction, a read, the insert that replaces or keeps a row, its errors) and its own
migration runner over the shared, append-only `MIGRATIONS`.

Nothing secret is written to a store: requests hold messages and generation parameters only, and a store's
`name` (in every message) is its path, or its URL with credentials redacted.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from rungwise.errors import StoreError
from rungwise.models.base import Completion
from rungwise.outputs import strict_json
from rungwise.store import leases
from rungwise.store.migrations import ORDERED_TABLES
from rungwise.textsafe import storable

#: URL schemes that name a PostgreSQL store
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


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


class Tx(Protocol):
    """A backend's cursor, as the queries here use it: `?` placeholders, rows as tuples."""

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


RUN_COLS = ("id", "task_name", "task_folder", "task_hash", "model", "settings_json", "status", "created_at",
            "finished_at", "summary_json")
RESULT_COLS = ("run_id", "variant", "example_id", "request_key", "output", "parsed", "score", "failure",
               "prompt_tokens", "completion_tokens", "cached_tokens", "latency_s", "from_cache", "extras_json",
               "created_at", "served_model", "system_fingerprint")
#: each table's primary key (what an insert conflicts on)
KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("id",), "results": ("run_id", "variant", "example_id"), "response_cache": ("model", "request_key"),
    "variants": ("run_id", "variant"), "artifacts": ("run_id", "name"), "reports": ("run_id",),
    "run_leases": ("run_id",), "baselines": ("task_name", "set_at"),
}


#: dialect -> the Store subclass that opens it, as `register_backend` recorded it
_BACKENDS: dict[str, type[Store]] = {}


def register_backend(dialect: str, backend: type[Store]) -> type[Store]:
    """Make `Store(target)` open targets of `dialect` ("sqlite": a path, "postgresql": a URL) with `backend`."""
    _BACKENDS[dialect] = backend
    return backend


def storable_args(args: Sequence[Any]) -> tuple[Any, ...]:
    """A query's arguments with every string made storable (`textsafe.storable`): each backend's cursor passes
    its arguments here, so no text from outside (an answer, an input, a name) can fail a write on one backend and
    not the other, or stop a `store migrate` halfway."""
    return tuple(storable(a) if isinstance(a, str) else a for a in args)


def _like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern (ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def store_target(target: str | Path | None = None) -> str | Path:
    """What a store argument names: a PostgreSQL URL (kept as text), or a SQLite file's path."""
    if target is None or str(target) == "":
        target = os.environ.get("RUNGWISE_STORE") or Path(".rungwise") / "rungwise.db"
    if isinstance(target, str) and target.lower().startswith(POSTGRES_SCHEMES):
        return target
    text = str(target)
    if "://" in text:
        from rungwise.models.urls import redact_url

        raise StoreError(f"The store {redact_url(text)} is neither a file path nor a postgresql:// URL; rungwise "
                         "stores results in SQLite (a path) or PostgreSQL (postgresql://host/database).")
    if isinstance(target, Path) and text.lower().startswith(("postgresql:/", "postgres:/")):
        raise StoreError("A PostgreSQL store URL was read as a file path; pass it as text (str), not a Path.")
    return Path(target)


def default_store_path() -> Path:
    """The SQLite store used when none is named ($RUNGWISE_STORE when it is a path)."""
    target = store_target(None)
    return target if isinstance(target, Path) else Path(".rungwise") / "rungwise.db"


class Store:
    """The results store. `Store(target)` opens the backend that `target` names (see the module docstring);
    `SQLiteStore` and `PostgresStore` are the two. Safe to use from the threads of one process (writes are
    serialised by a lock); several processes (climbs, people) may share one store."""

    #: how rows of `variants` and `results` are read back in insertion order
    order_column: ClassVar[str] = "rowid"
    #: "sqlite" or "postgresql"
    dialect: ClassVar[str] = ""
    #: where the store is, for messages: a path, or a URL with its credentials redacted
    name: str

    def __new__(cls, target: str | Path | None = None) -> Store:
        if cls is Store:
            # the backends register themselves (`register_backend`); the package imports both
            cls = _BACKENDS["postgresql" if isinstance(store_target(target), str) else "sqlite"]
        return super().__new__(cls)

    def __init__(self, target: str | Path | None = None) -> None:
        self._leases: dict[str, leases.Heartbeat] = {}
        self._lock = threading.RLock()

    # -- what a backend supplies ----------------------------------------------------------------------
    def _tx(self) -> AbstractContextManager[Tx]:
        """One write transaction; the backend's errors leave it as one StoreError."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Tx]:
        """A cursor for reads (each statement sees committed data)."""
        raise NotImplementedError

    def _side_tx(self) -> AbstractContextManager[Tx]:
        """A write transaction on a connection of its own (for the lease heartbeat's thread)."""
        raise NotImplementedError

    def _lock_claims(self, tx: Tx) -> None:
        """Inside `tx`: make claims of runs from other processes wait until `tx` ends (SQLite's BEGIN IMMEDIATE
        already does)."""

    def _close(self) -> None:
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        """The columns of one of the store's tables (for copying between stores of different versions)."""
        raise NotImplementedError

    def insert_sql(self, table: str, cols: Sequence[str], on_conflict: Literal["replace", "keep"]) -> str:
        """An insert of one row that replaces the row with the same key, or keeps it (an upsert either way: two
        writers of the same key never fail, and never leave two rows)."""
        marks = ", ".join("?" * len(cols))
        head = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) ON CONFLICT ({', '.join(KEYS[table])})"
        if on_conflict == "keep":
            return head + " DO NOTHING"
        rest = [c for c in cols if c not in KEYS[table]]
        return head + " DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in rest)

    # -- lifetime -------------------------------------------------------------------------------------
    def close(self) -> None:
        for run_id in list(self._leases):
            with suppress(StoreError):
                self.release_lease(run_id)
        self._close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------------------
    def _resumable(self, tx: Tx, task_hash: str, model: str, settings: dict[str, Any]) -> str | None:
        rows = tx.all("SELECT id FROM runs WHERE task_hash=? AND model=? AND settings_json=? AND status='running' "
                      "ORDER BY created_at DESC LIMIT 1", (task_hash, model, json.dumps(settings, sort_keys=True)))
        return rows[0][0] if rows else None

    def _insert_run(self, tx: Tx, task_name: str, task_folder: str, task_hash: str, model: str,
                    settings: dict[str, Any], now: float) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        tx.run("INSERT INTO runs (id, task_name, task_folder, task_hash, model, settings_json, status, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
               (run_id, task_name, task_folder, task_hash, model, json.dumps(settings, sort_keys=True), now))
        return run_id

    def create_run(self, task_name: str, task_folder: str, task_hash: str, model: str, settings: dict[str, Any]) -> str:
        with self._tx() as c:
            return self._insert_run(c, task_name, task_folder, task_hash, model, settings, time.time())

    def find_resumable(self, task_hash: str, model: str, settings: dict[str, Any]) -> str | None:
        """The latest unfinished run of the same task, model and settings, if any."""
        with self._read() as c:
            return self._resumable(c, task_hash, model, settings)

    def finish_run(self, run_id: str, summary: dict[str, Any], status: str = "done") -> None:
        with self._tx() as c:
            c.run("UPDATE runs SET status=?, finished_at=?, summary_json=? WHERE id=?",
                  (status, time.time(), strict_json(summary, sort_keys=True), run_id))
        self.release_lease(run_id)

    def set_summary(self, run_id: str, summary: dict[str, Any]) -> None:
        """Replace a finished run's result (distillation adds variants to a run after its climb)."""
        with self._tx() as c:
            c.run("UPDATE runs SET summary_json=? WHERE id=?", (strict_json(summary, sort_keys=True), run_id))

    # -- leases: one climb per run at a time (see rungwise.store.leases) --------------------------------------
    def claim_run(self, task_name: str, task_folder: str, task_hash: str, model: str, settings: dict[str, Any], *,
                  resume: bool = True, notify: Callable[[str], None] | None = None) -> str:
        """The run this climb works on, under its lease: the latest unfinished run of the same task, model and
        settings when `resume` and no live climb holds it, else a new run. When a live climb holds it, wait for
        that climb to finish (saying so once through `notify`, a callable taking a line), then look again: its
        run is then finished, and the new run is served its answers from the response cache."""
        owner = leases.me()
        said = False
        while True:
            run_id, holder = self._claim_once(task_name, task_folder, task_hash, model, settings, resume, owner)
            if holder is None:
                self._leases[run_id] = leases.Heartbeat(self._heartbeat(run_id, owner.id), run_id, owner.id)
                return run_id
            if not said:
                said = True
                line = (f"another climb (pid {holder[1]} on {holder[0]}) is running this task with the same model and "
                        f"settings (run {run_id}); waiting for it to finish, then its answers come from the cache. "
                        "Ctrl-C to stop; --new starts a separate run at once.")
                if notify is not None:
                    notify(line)
                else:
                    print(f"rungwise: {line}", file=sys.stderr, flush=True)
            time.sleep(leases.POLL_S)

    def _claim_once(self, task_name: str, task_folder: str, task_hash: str, model: str, settings: dict[str, Any],
                    resume: bool, owner: leases.Owner) -> tuple[str, tuple[str, int] | None]:
        """In one write transaction: find or create the run, take its lease, or name the live holder."""
        now = time.time()
        with self._tx() as c:
            self._lock_claims(c)
            found = self._resumable(c, task_hash, model, settings) if resume else None
            if found is not None:
                run_id = found
                held = c.all("SELECT host, pid, heartbeat_at, owner FROM run_leases WHERE run_id=?", (run_id,))
                if held and held[0][3] != owner.id and leases.is_live(held[0][0], held[0][1], held[0][2], now):
                    return run_id, (held[0][0], held[0][1])
            else:
                run_id = self._insert_run(c, task_name, task_folder, task_hash, model, settings, now)
            c.run(self.insert_sql("run_leases", ("run_id", "owner", "host", "pid", "heartbeat_at"), "replace"),
                  (run_id, owner.id, owner.host, owner.pid, now))
        return run_id, None

    def _heartbeat(self, run_id: str, owner: str) -> Callable[[], None]:
        def beat() -> None:
            with self._side_tx() as c:
                c.run("UPDATE run_leases SET heartbeat_at=? WHERE run_id=? AND owner=?", (time.time(), run_id, owner))

        return beat

    def release_lease(self, run_id: str) -> None:
        """Stop the heartbeat and drop this climb's lease on `run_id` (nothing when it holds none)."""
        beat = self._leases.pop(run_id, None)
        if beat is None:
            return
        beat.stop()
        with self._tx() as c:
            c.run("DELETE FROM run_leases WHERE run_id=? AND owner=?", (run_id, beat.owner))

    def get_run(self, run_id: str) -> RunInfo:
        with self._read() as c:
            rows = c.all(f"SELECT {', '.join(RUN_COLS)} FROM runs WHERE id=?", (run_id,))
            if not rows:
                matches = c.all("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id", (_like(run_id) + "%",))
        if not rows:
            if len(matches) == 1:
                return self.get_run(matches[0][0])
            if len(matches) > 1:
                shown = ", ".join(m[0] for m in matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
                raise StoreError(f"The run prefix {run_id!r} is ambiguous in {self.name}: it matches {shown}. "
                                 "Give more of the run id.")
            raise StoreError(f"No run {run_id!r} in {self.name}. List runs with: rungwise runs")
        d = dict(zip(RUN_COLS, rows[0]))
        return RunInfo(
            id=d["id"], task_name=d["task_name"], task_folder=d["task_folder"], task_hash=d["task_hash"],
            model=d["model"], settings=json.loads(d["settings_json"]), status=d["status"],
            created_at=d["created_at"], finished_at=d["finished_at"],
            summary=json.loads(d["summary_json"]) if d["summary_json"] else None,
        )

    def list_runs(self, limit: int = 50, *, task: str | None = None, model: str | None = None,
                  status: str | None = None) -> list[RunInfo]:
        """The latest runs, newest first: of the task named `task`, of a model whose fingerprint contains `model`,
        with `status` ('running', 'done'), when given."""
        where, args = [], []
        if task is not None:
            where.append("task_name=?")
            args.append(task)
        if model is not None:
            where.append("lower(model) LIKE ? ESCAPE '\\'")  # SQLite's LIKE ignores case, PostgreSQL's does not
            args.append("%" + _like(model.lower()) + "%")
        if status is not None:
            where.append("status=?")
            args.append(status)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._read() as c:
            ids = [r[0] for r in c.all(f"SELECT id FROM runs{clause} ORDER BY created_at DESC LIMIT ?", (*args, limit))]
        return [self.get_run(i) for i in ids]

    # -- variants and results -------------------------------------------------------------------------
    def record_variant(self, run_id: str, variant: str, rung: str, config: dict[str, Any]) -> None:
        with self._tx() as c:
            c.run(self.insert_sql("variants", ("run_id", "variant", "rung", "config_json"), "replace"),
                  (run_id, variant, rung, json.dumps(config, sort_keys=True, default=str)))

    def variants(self, run_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        with self._read() as c:
            rows = c.all(f"SELECT variant, rung, config_json FROM variants WHERE run_id=? ORDER BY {self.order_column}",
                         (run_id,))
        return [(v, r, json.loads(cfg)) for v, r, cfg in rows]

    def add_result(self, run_id: str, row: ResultRow, *, cache: tuple[str, Completion] | None = None) -> None:
        """Record one result; with `cache=(model fingerprint, completion)` also cache the response under
        `row.request_key`, in the same transaction (one commit per answer)."""
        self.add_results(run_id, [(row, cache)])

    def add_results(self, run_id: str, rows: Sequence[tuple[ResultRow, tuple[str, Completion] | None]]) -> None:
        """Record several results, each with its optional response to cache, in one transaction. A response
        already cached under the same model and request (another climb's) is kept: the cache is an upsert."""
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
                int(row.from_cache), strict_json(row.extras, sort_keys=True), now, row.served_model,
                row.system_fingerprint,
            )
            for row, _ in rows
        ]
        with self._tx() as c:
            if cached:
                c.many(self.insert_sql("response_cache", ("model", "request_key", "completion_json", "created_at"),
                                       "keep"), cached)
            c.many(self.insert_sql("results", RESULT_COLS, "replace"), results)

    def results(self, run_id: str, variant: str | None = None) -> list[ResultRow]:
        sql = ("SELECT variant, example_id, output, parsed, score, failure, prompt_tokens, completion_tokens, "
               "cached_tokens, latency_s, from_cache, extras_json, request_key, served_model, system_fingerprint "
               "FROM results WHERE run_id=?")
        args: tuple[Any, ...] = (run_id,)
        if variant is not None:
            sql += " AND variant=?"
            args += (variant,)
        with self._read() as c:
            rows = c.all(sql + f" ORDER BY {self.order_column}", args)
        return [ResultRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]), json.loads(r[11]),
                          r[12], r[13], r[14]) for r in rows]

    def done_examples(self, run_id: str, variant: str) -> set[str]:
        # a row the server failed (a malformed answer) is not done: a resumed run asks again
        with self._read() as c:
            rows = c.all("SELECT example_id FROM results WHERE run_id=? AND variant=? "
                         "AND (failure IS NULL OR failure != 'server')", (run_id, variant))
        return {r[0] for r in rows}

    # -- response cache -------------------------------------------------------------------------------
    def cached(self, model: str, request_key: str) -> Completion | None:
        with self._read() as c:
            rows = c.all("SELECT completion_json FROM response_cache WHERE model=? AND request_key=?",
                         (model, request_key))
        return Completion(**json.loads(rows[0][0])) if rows else None

    def cache_many(self, model: str, keys: list[str]) -> dict[str, Completion]:
        """Cached completions for many request keys at once (one query per 500 keys)."""
        found: dict[str, Completion] = {}
        with self._read() as c:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in c.all(f"SELECT request_key, completion_json FROM response_cache WHERE model=? "
                                       f"AND request_key IN ({marks})", (model, *chunk)):
                    found[key] = Completion(**json.loads(blob))
        return found

    def put_cache(self, model: str, request_key: str, completion: Completion) -> None:
        """Cache one response; one already cached under the same model and request is kept."""
        with self._tx() as c:
            c.run(self.insert_sql("response_cache", ("model", "request_key", "completion_json", "created_at"), "keep"),
                  (model, request_key, json.dumps(vars(completion)), time.time()))

    # -- artifacts (adapters, indexes) ----------------------------------------------------------------
    def add_artifact(self, run_id: str, name: str, kind: str, path: str, meta: dict[str, Any]) -> None:
        with self._tx() as c:
            c.run(self.insert_sql("artifacts", ("run_id", "name", "kind", "path", "meta_json", "created_at"), "replace"),
                  (run_id, name, kind, path, strict_json(meta, sort_keys=True), time.time()))

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        with self._read() as c:
            rows = c.all("SELECT name, kind, path, meta_json FROM artifacts WHERE run_id=? ORDER BY created_at, name",
                         (run_id,))
        return [{"name": n, "kind": k, "path": p, "meta": json.loads(m)} for n, k, p, m in rows]

    # -- reports (the versioned record a stored run is rendered from) -----------------------------------
    def save_report(self, run_id: str, version: int, blob: str) -> None:
        with self._tx() as c:
            c.run(self.insert_sql("reports", ("run_id", "version", "json", "created_at"), "replace"),
                  (run_id, version, blob, time.time()))

    def load_report(self, run_id: str) -> tuple[int, str] | None:
        """(version, json) of the run's stored report record, or None when the run has none."""
        with self._read() as c:
            rows = c.all("SELECT version, json FROM reports WHERE run_id=?", (run_id,))
        return (int(rows[0][0]), rows[0][1]) if rows else None

    # -- baselines: the run a task's gate holds the line against, promoted on purpose ------------------------
    def set_baseline(self, task_name: str, run_id: str) -> RunInfo:
        """Make `run_id` (an id or a prefix) the baseline of `task_name` (earlier baselines stay in its history) and
        return it. Only a finished run of that task can be one: anything else is refused with a StoreError."""
        info = self.get_run(run_id)
        if info.task_name != task_name:
            raise StoreError(f"Run {info.id} is a run of task {info.task_name!r}, not {task_name!r}.")
        if info.status != "done":
            raise StoreError(f"Run {info.id} is {info.status}, not finished: finish it (run the same climb again) "
                             "before promoting it.")
        with self._tx() as c:
            c.run("INSERT INTO baselines (task_name, run_id, set_at) VALUES (?, ?, ?)", (task_name, info.id, time.time()))
        return info

    def baselines(self, task_name: str) -> list[tuple[str, float]]:
        """(run id, when it was set) of every baseline the task has had, the current one first."""
        with self._read() as c:
            rows = c.all("SELECT run_id, set_at FROM baselines WHERE task_name=? ORDER BY set_at DESC", (task_name,))
        return [(r[0], float(r[1])) for r in rows]

    def baseline(self, task_name: str) -> str | None:
        """The task's current baseline run, or None."""
        history = self.baselines(task_name)
        return history[0][0] if history else None

    # -- copying (rungwise store migrate) ------------------------------------------------------------
    def scan(self, table: str, cols: Sequence[str], batch: int = 1000) -> Iterator[list[tuple[Any, ...]]]:
        """Every row of `table` (these columns) in batches, in insertion order where the store keeps one (else by
        primary key); one query per batch, so a large store is never read into memory at once."""
        keys = [self.order_column] if table in ORDERED_TABLES else list(KEYS[table])
        order = ", ".join(keys)
        last: tuple[Any, ...] | None = None
        while True:
            after = f" WHERE ({order}) > ({', '.join('?' * len(keys))})" if last is not None else ""
            with self._read() as c:
                rows = c.all(f"SELECT {order}, {', '.join(cols)} FROM {table}{after} ORDER BY {order} LIMIT ?",
                             (*(last or ()), batch))
            if rows:
                yield [row[len(keys):] for row in rows]
                last = rows[-1][: len(keys)]
            if len(rows) < batch:
                return

    def count(self, table: str) -> int:
        with self._read() as c:
            return int(c.all(f"SELECT count(*) FROM {table}")[0][0])
