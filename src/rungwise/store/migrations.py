"""The store's schema: append-only named migrations, shared by every backend.

`MIGRATIONS` holds each migration's SQL as SQLite runs it. PostgreSQL runs the same migrations, by the same names,
in the same order: its SQL is `POSTGRES[name]` where the dialects differ, else the SQLite text with `REAL` read as
`DOUBLE PRECISION` (PostgreSQL's REAL holds 6 digits, too few for a timestamp). A migration is never edited or
removed once released; a new one goes at the end, numbered after the last (and is added here once, for both).

PostgreSQL has no `rowid`: the two tables read back in insertion order (`variants`, `results`) carry a `seq`
column there.
"""

from __future__ import annotations

import re

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
    (
        "006_baselines",
        """
        CREATE TABLE baselines (
            task_name TEXT NOT NULL,
            run_id TEXT NOT NULL REFERENCES runs(id),
            set_at REAL NOT NULL,
            PRIMARY KEY (task_name, set_at)
        );
        """,
    ),
]


POSTGRES: dict[str, str] = {
    "001_initial": """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            task_name TEXT NOT NULL,
            task_folder TEXT NOT NULL,
            task_hash TEXT NOT NULL,
            model TEXT NOT NULL,
            settings_json TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            summary_json TEXT
        );
        CREATE TABLE results (
            run_id TEXT NOT NULL REFERENCES runs(id),
            variant TEXT NOT NULL,
            example_id TEXT NOT NULL,
            request_key TEXT,
            output TEXT NOT NULL,
            parsed TEXT,
            score DOUBLE PRECISION NOT NULL,
            failure TEXT,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            latency_s DOUBLE PRECISION NOT NULL,
            from_cache INTEGER NOT NULL,
            extras_json TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            seq BIGSERIAL,
            PRIMARY KEY (run_id, variant, example_id)
        );
        CREATE INDEX results_seq ON results (run_id, seq);
        CREATE TABLE response_cache (
            model TEXT NOT NULL,
            request_key TEXT NOT NULL,
            completion_json TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (model, request_key)
        );
        CREATE TABLE variants (
            run_id TEXT NOT NULL REFERENCES runs(id),
            variant TEXT NOT NULL,
            rung TEXT NOT NULL,
            config_json TEXT NOT NULL,
            seq BIGSERIAL,
            PRIMARY KEY (run_id, variant)
        );
        CREATE INDEX runs_resumable ON runs (task_hash, model, status);
        """,
}

#: the tables whose rows are read back in insertion order (rowid in SQLite, seq in PostgreSQL)
ORDERED_TABLES = ("variants", "results")

_REAL = re.compile(r"\bREAL\b")


def postgres_sql(name: str, sql: str) -> str:
    """The SQL PostgreSQL runs for migration `name` (whose SQLite text is `sql`)."""
    return POSTGRES.get(name) or _REAL.sub("DOUBLE PRECISION", sql)


def newer_store_message(where: str, unknown: set[str]) -> str:
    return (f"The store {where} was written by a newer rungwise (migrations {sorted(unknown)}). "
            "Upgrade rungwise, or pass --store PATH to start a new store.")
