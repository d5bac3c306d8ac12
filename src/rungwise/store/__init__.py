"""The results store: runs, per-example results, the response cache, artifacts, reports and run leases.

`Store(target)` opens one: a SQLite file (the default, `.rungwise/rungwise.db`) or a PostgreSQL database named by
a `postgresql://` URL (`--store` or RUNGWISE_STORE), both behind one contract (`rungwise.store.contract`). Schema
changes are append-only named migrations shared by both (`rungwise.store.migrations`), so a store made by an
older rungwise still opens, and one made by a newer rungwise is refused with a message that says so.
`copy_store` copies one store into another (`rungwise store migrate SRC DST`).
"""

from __future__ import annotations

from rungwise.store.contract import ResultRow, RunInfo, Store, default_store_path, store_target
from rungwise.store.copy import copy_store
from rungwise.store.migrations import MIGRATIONS
from rungwise.store.postgres import PostgresStore
from rungwise.store.sqlite import SQLiteStore

__all__ = ["MIGRATIONS", "PostgresStore", "ResultRow", "RunInfo", "SQLiteStore", "Store", "copy_store",
           "default_store_path", "store_target"]
