"""The PostgreSQL store: one database that several climbs, machines and people write to at once.

Opened by a URL (`--store postgresql://host/database`, or RUNGWISE_STORE). The credentials come from the URL or
libpq's own environment (PGUSER, PGPASSWORD, PGHOST, PGPASSFILE, ...) and go nowhere else: the store's `name`, in
every message, is the URL with its userinfo and query values redacted, and a driver message that quotes the
password has it replaced. Needs psycopg 3, the `postgres` extra.

The same named migrations as SQLite (`rungwise.store.migrations`, PostgreSQL's SQL where it differs) run in one
transaction under an advisory lock, so two climbs opening a new database at once do not race. Claims of runs take
the same lock, so two climbs never take the same run; the response cache and the results are upserts, so two
climbs writing the same row never fail and never leave two. A database whose tables are not rungwise's (no marked
`migrations` table) is refused before anything is written to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rungwise.errors import ForeignStore, MissingExtra, StoreError
from rungwise.models.urls import redact_store_url, redact_url, remember_url_secrets, url_userinfo
from rungwise.redaction import redact
from rungwise.store.contract import Store, register_backend, storable_args, store_target
from rungwise.store.migrations import MIGRATIONS, newer_store_message, postgres_sql

if TYPE_CHECKING:
    import psycopg

#: the comment on the `migrations` table that marks a database as a rungwise store
MARK = "rungwise store"
#: pg_advisory_xact_lock key for migrations and claims of runs ("RWNG")
LOCK_KEY = 0x52574E47
#: a connection idle this long is checked (and made again when the server dropped it) before it is used
IDLE_CHECK_S = 60.0
#: tables of a rungwise store: one of them without the mark means another program's database
_OURS = ("runs", "results", "response_cache", "variants", "artifacts", "reports", "run_leases", "baselines")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise MissingExtra("psycopg (the PostgreSQL driver)", "postgres") from None
    return psycopg


class _Cursor:
    """A psycopg cursor as the contract's `Tx` (`?` placeholders become psycopg's `%s`)."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self.cur = cur

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cur.execute(sql.replace("?", "%s"), storable_args(args) or None)
        return list(self.cur.fetchall())

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.cur.execute(sql.replace("?", "%s"), storable_args(args) or None)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cur.executemany(sql.replace("?", "%s"), [storable_args(r) for r in rows])


class PostgresStore(Store):
    """A store in a PostgreSQL database, named by its URL."""

    dialect: ClassVar[str] = "postgresql"
    order_column: ClassVar[str] = "seq"

    def __init__(self, target: str | Path | None = None) -> None:
        super().__init__(target)
        url = store_target(target)
        if not isinstance(url, str):
            raise StoreError(f"PostgresStore takes a postgresql:// URL, not the path {url}.")
        self._url = url
        remember_url_secrets(url)  # every part of the userinfo, masked wherever a driver or server echoes it
        self.name = redact_store_url(url)
        self._pg = _psycopg()
        self._conn = self._connect()
        self._used = time.monotonic()
        self._side: psycopg.Connection[Any] | None = None  # the lease heartbeat's, made on its first beat
        self._side_lock = threading.Lock()
        try:
            self._migrate()
        except BaseException:
            with suppress(Exception):
                self._conn.close()
            raise

    def _error(self, exc: BaseException, doing: str = "failed") -> StoreError:
        """A driver error as one line, with the password (if the URL holds one) never shown."""
        text = redact(" ".join(str(exc).split()))
        found = url_userinfo(self._url)
        for secret in sorted(found[1] if found else [], key=len, reverse=True):  # short ones too, here
            text = text.replace(secret, "***")
        text = redact_url(text)[:240]  # cut after the redaction, so that no part of a secret is left behind
        if isinstance(exc, self._pg.OperationalError) and doing == "failed":
            doing = "lost its connection or failed"
        return StoreError(f"The PostgreSQL store {self.name} {doing} ({type(exc).__name__}: {text}). Check that the "
                          "server is up and the URL (or PGHOST, PGUSER, PGPASSWORD) is right, or pass --store PATH "
                          "for a SQLite file.")

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return self._pg.connect(self._url, autocommit=True, connect_timeout=15,
                                    application_name="rungwise")
        except self._pg.Error as exc:
            raise self._error(exc, "cannot be reached") from None

    def _alive(self) -> psycopg.Connection[Any]:
        """The connection, made again when the server closed it (a restart, an idle timeout during a long
        fine-tune); called under the lock, before a transaction or a read starts, so nothing is ever replayed."""
        conn = self._conn
        idle = time.monotonic() - self._used
        if not (conn.closed or conn.broken) and idle > IDLE_CHECK_S:
            try:
                conn.execute("SELECT 1")
            except self._pg.Error:
                pass
        if conn.closed or conn.broken:
            with suppress(Exception):
                conn.close()
            self._conn = conn = self._connect()
        self._used = time.monotonic()
        return conn

    def _migrate(self) -> None:
        with self._tx() as c:
            c.run("SELECT pg_advisory_xact_lock(?)", (LOCK_KEY,))
            marked = c.all("SELECT obj_description(to_regclass('migrations'), 'pg_class')")[0][0]
            if c.all("SELECT to_regclass('migrations') IS NOT NULL")[0][0]:
                if marked != MARK:
                    raise ForeignStore(f"The PostgreSQL database {self.name} holds a `migrations` table that is not "
                                       "rungwise's; rungwise wrote nothing to it. Give rungwise a database (or a "
                                       "schema, ?options=-csearch_path%3Dname) of its own.")
            else:
                clash = [t for t in _OURS if c.all("SELECT to_regclass(?) IS NOT NULL", (t,))[0][0]]
                if clash:
                    raise ForeignStore(f"The PostgreSQL database {self.name} already has tables named {', '.join(clash)} "
                                       "but is not a rungwise store; rungwise wrote nothing to it. Give rungwise a "
                                       "database (or a schema) of its own.")
                c.run("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION)")
                c.run(f"COMMENT ON TABLE migrations IS '{MARK}'")
            done = {r[0] for r in c.all("SELECT name FROM migrations")}
            unknown = done - {name for name, _ in MIGRATIONS}
            if unknown:
                raise StoreError(newer_store_message(self.name, unknown))
            for name, sql in MIGRATIONS:
                if name not in done:
                    c.cur.execute(postgres_sql(name, sql))  # several statements, no parameters
                    c.run("INSERT INTO migrations VALUES (?, extract(epoch from now()))", (name,))

    @contextmanager
    def _tx(self) -> Iterator[_Cursor]:
        with self._lock:
            try:
                conn = self._alive()
                with conn.transaction(), conn.cursor() as cur:
                    yield _Cursor(cur)
            except self._pg.Error as exc:
                raise self._error(exc) from None

    @contextmanager
    def _read(self) -> Iterator[_Cursor]:
        with self._lock:
            try:
                with self._alive().cursor() as cur:
                    yield _Cursor(cur)
            except self._pg.Error as exc:
                raise self._error(exc) from None

    @contextmanager
    def _side_tx(self) -> Iterator[_Cursor]:
        """A transaction on the side connection (the lease heartbeat's, from its own thread): made once and kept,
        made again after it failed, so a heartbeat every few seconds does not open a connection each time."""
        with self._side_lock:
            conn = self._side
            try:
                if conn is None or conn.closed or conn.broken:
                    self._side = conn = self._connect()
                with conn.transaction(), conn.cursor() as cur:
                    yield _Cursor(cur)
            except self._pg.Error as exc:
                self._drop_side()
                raise self._error(exc) from None

    def _drop_side(self) -> None:
        if self._side is not None:
            with suppress(Exception):
                self._side.close()
            self._side = None

    def _lock_claims(self, tx: Any) -> None:
        tx.run("SELECT pg_advisory_xact_lock(?)", (LOCK_KEY,))

    def columns(self, table: str) -> list[str]:
        with self._read() as c:
            rows = c.all("SELECT column_name FROM information_schema.columns WHERE table_name=? "
                         "AND table_schema = current_schema() ORDER BY ordinal_position", (table,))
        return [r[0] for r in rows]

    def _close(self) -> None:
        with self._side_lock:
            self._drop_side()
        with suppress(Exception):
            self._conn.close()


register_backend("postgresql", PostgresStore)
