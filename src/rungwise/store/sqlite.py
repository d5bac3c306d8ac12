"""The SQLite store (WAL): the default, one file, for one user or one machine.

The store defends itself (`rungwise.store.guard`): its files carry a rungwise mark, another program's database is
refused before anything is written to it, a damaged one is refused with the way to recover, and SQLite's errors
(read-only, disk full) become one StoreError line. Results are written as they arrive (the Runner groups the
answers of up to 10 ms in one commit).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar, Literal

from rungwise.errors import StoreError
from rungwise.store import guard as store_guard
from rungwise.store.contract import Store, register_backend, storable_args, store_target
from rungwise.store.migrations import MIGRATIONS, newer_store_message


class _Cursor:
    """A sqlite3 connection as the contract's `Tx`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, storable_args(args)).fetchall()

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, storable_args(args))

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, [storable_args(r) for r in rows])


class SQLiteStore(Store):
    """A store in one SQLite file (`path`)."""

    dialect: ClassVar[str] = "sqlite"
    order_column: ClassVar[str] = "rowid"

    def __init__(self, target: str | Path | None = None) -> None:
        super().__init__(target)
        resolved = store_target(target)
        if not isinstance(resolved, Path):
            raise StoreError("SQLiteStore takes a file path; a postgresql:// URL opens with Store(url).")
        self.path = resolved
        self.name = str(self.path)
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
                unknown = done - {name for name, _ in MIGRATIONS}
                if unknown:
                    raise StoreError(newer_store_message(self.name, unknown))
                for name, sql in MIGRATIONS:
                    if name not in done:
                        self._conn.executescript("BEGIN;" + sql + f"INSERT INTO migrations VALUES ('{name}', {time.time()});COMMIT;")
        except sqlite3.OperationalError as exc:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise store_guard.error(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a rungwise store ({exc}). Pass --store PATH to use another file.") from None

    def insert_sql(self, table: str, cols: Sequence[str], on_conflict: Literal["replace", "keep"]) -> str:
        if on_conflict == "replace":  # SQLite's own replace, as before the contract (a replaced row goes last)
            return f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        return super().insert_sql(table, cols, on_conflict)

    @contextmanager
    def _tx(self) -> Iterator[_Cursor]:
        """One write transaction; SQLite's errors (read-only, disk full, damaged) leave it as one StoreError."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_guard.error(self.path, exc) from None
            try:
                yield _Cursor(self._conn)
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise store_guard.error(self.path, exc) from None
                raise

    @contextmanager
    def _read(self) -> Iterator[_Cursor]:
        with self._lock:
            try:
                yield _Cursor(self._conn)
            except sqlite3.Error as exc:
                raise store_guard.error(self.path, exc) from None

    @contextmanager
    def _side_tx(self) -> Iterator[_Cursor]:
        try:
            conn = sqlite3.connect(self.path, timeout=10)
            try:
                yield _Cursor(conn)
                conn.commit()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise store_guard.error(self.path, exc) from None

    def columns(self, table: str) -> list[str]:
        with self._read() as c:
            return [r[1] for r in c.all(f"PRAGMA table_info({table})")]

    def _close(self) -> None:
        self._conn.close()


register_backend("sqlite", SQLiteStore)
