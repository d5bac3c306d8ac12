"""Copy one store into another: `rungwise store migrate SRC DST` (a SQLite file into a team's PostgreSQL).

Both stores are opened (so both are migrated to this rungwise's schema) and every table but the leases is copied
in dependency order, in one transaction of the destination, each row an insert that keeps a row already there: copying twice, or into a store that
already holds other runs or the same cached responses, adds only what is missing. Rows that name a run the source
lacks (SQLite does not enforce its foreign keys) are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rungwise.store.contract import Store

#: what is copied, parents first; leases belong to live climbs and stay behind
TABLES = ("runs", "variants", "results", "response_cache", "artifacts", "reports", "baselines")


@dataclass
class CopyReport:
    """Rows per table: found in the source, added to the destination, and left out (no such run)."""

    source: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    orphans: dict[str, int] = field(default_factory=dict)


def copy_store(src: Store, dst: Store) -> CopyReport:
    """Copy `src` into `dst` in one transaction of `dst`: a copy that fails (a lost connection, a full disk) leaves
    `dst` as it was, never a finished run without its results. Text no store can hold (a NUL, a lone surrogate,
    which SQLite may have kept) is written as U+FFFD by the destination's cursor (`storable_args`)."""
    report = CopyReport()
    before = {table: dst.count(table) for table in TABLES}
    with dst._tx() as c:
        runs: set[str] = set()
        for table in TABLES:
            cols = [col for col in src.columns(table) if col in set(dst.columns(table)) and col != "seq"]
            sql = dst.insert_sql(table, cols, "keep")
            seen = orphans = 0
            run_at = cols.index("run_id") if "run_id" in cols else None
            for batch in src.scan(table, cols):
                seen += len(batch)
                if run_at is not None:
                    kept = [row for row in batch if row[run_at] in runs]
                    orphans += len(batch) - len(kept)
                    batch = kept
                if batch:
                    c.many(sql, batch)
            if table == "runs":
                runs = {row[0] for row in c.all("SELECT id FROM runs")}
            report.source[table], report.orphans[table] = seen, orphans
    for table in TABLES:
        report.added[table] = dst.count(table) - before[table]
    return report
