"""What the store checks before it writes anything, and how its SQLite errors read.

A rungwise store is marked: `PRAGMA application_id` holds APPLICATION_ID and `user_version` the number of
migrations applied. Before the store switches a file to WAL or creates a table, `inspect` reads that mark:

    no file, or an empty database      new: rungwise may create its tables
    APPLICATION_ID                     ours
    no mark, a `migrations` table      an older rungwise store (before the mark): accepted, then marked
      naming rungwise migrations
    anything else                      another program's database: ForeignStore, nothing written

An existing file is also checked with `PRAGMA quick_check`; a damaged one is refused with the way to recover.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from rungwise.errors import ForeignStore, StoreError

#: "RWNG", in SQLite's application_id header field
APPLICATION_ID = 0x52574E47

_MIGRATION_NAME = re.compile(r"^\d{3}_[a-z0-9_]+$")


def _recover(path: Path) -> str:
    return (f"Move it aside (mv {path} {path}.damaged) and run again to start a new store, or pass --store PATH "
            "(or RUNGWISE_STORE) to use another file.")


def inspect(conn: sqlite3.Connection, path: Path, *, existed: bool) -> str:
    """'new', 'ours' or 'old' (an unmarked rungwise store); raises StoreError or ForeignStore. Reads only."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if existed:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise StoreError(f"The store {path} is damaged (SQLite's quick_check: {' '.join(' '.join(problems).split())[:160]}). "
                                 + _recover(path))
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        if app_id == APPLICATION_ID:
            return "ours"
        if app_id == 0 and not tables:
            return "new"
        if app_id == 0 and "migrations" in tables:
            names = [r[0] for r in conn.execute("SELECT name FROM migrations")]
            if "001_initial" in names and all(isinstance(n, str) and _MIGRATION_NAME.match(n) for n in names):
                return "old"
    except sqlite3.Error as exc:
        raise error(path, exc) from None
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    raise ForeignStore(
        f"{path} is another program's SQLite database (application_id {app_id}, tables: {shown or 'none'}), not a "
        "rungwise store; rungwise wrote nothing to it. Pass --store PATH (or RUNGWISE_STORE) to keep rungwise's "
        "results in a file of their own."
    )


def stamp(conn: sqlite3.Connection, migrations: int) -> None:
    """Mark the file as a rungwise store of `migrations` migrations."""
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {int(migrations)}")


def error(path: Path, exc: BaseException) -> StoreError:
    """A SQLite or OS error as one line that says what to do."""
    text = " ".join(str(exc).split())[:200]
    low = text.lower()
    if "readonly" in low or "read-only" in low or isinstance(exc, PermissionError):
        return StoreError(f"The store {path} is read-only ({text}). Make it and its folder writable, or pass "
                          "--store PATH (or RUNGWISE_STORE) to write results elsewhere.")
    if "disk is full" in low or "no space" in low:
        return StoreError(f"The disk holding the store {path} is full ({text}). Free some space, or pass "
                          "--store PATH on another disk; every result stored so far is kept.")
    if "malformed" in low or "corrupt" in low:
        return StoreError(f"The store {path} is damaged ({text}). " + _recover(path))
    if "not a database" in low or "encrypted" in low:
        return StoreError(f"{path} is not a rungwise store ({text}). Pass --store PATH to use another file.")
    if "locked" in low or "busy" in low:
        return StoreError(f"The store {path} stayed locked by another process ({text}). Try again when it is done, "
                          "or pass --store PATH.")
    if "unable to open" in low:
        return StoreError(f"Cannot open the store {path} ({text}): check that its folder exists and is writable, or "
                          "pass --store PATH.")
    return StoreError(f"The store {path} failed ({type(exc).__name__}: {text}). Pass --store PATH to use another file.")
