"""The figures a decision rests on that the ladder has no column for, as small tables under it in the terminal:
how well each retriever found the gold passages (recall@k, MRR), and each adapter's training (its time, its rows,
why it stopped, its cost) and whether the model served now is the base it was trained on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console

from rungwise.progress import duration
from rungwise.report import fit
from rungwise.report.fit import Col, escape

if TYPE_CHECKING:
    from rungwise.record.schema import ClimbRecord

#: the summary extra that holds a retriever's mean reciprocal rank
_RR = "reciprocal_rank"
#: why a training stopped, in words
_STOPPED = {"completed": "every step", "early_stopping": "no better on validation", "budget": "time budget",
            "cancelled": "cancelled"}


def retrieval_columns(result: ClimbRecord) -> list[Col]:
    """recall@k and MRR of every variant that recorded them (the rag rung's, on the rows with gold ids)."""
    found = [v for v in result.variants if any(k.startswith("recall@") or k == _RR for k in v.extras)]
    if not found:
        return []
    recalls = sorted({k for v in found for k in v.extras if k.startswith("recall@")})
    columns = [Col("variant", [escape(v.name) for v in found], "left", 0)]
    columns += [Col(escape(k), [_pct(v.extras.get(k)) for v in found], "right", 1) for k in recalls]
    if any(_RR in v.extras for v in found):
        columns.append(Col("MRR", [_num(v.extras.get(_RR)) for v in found], "right", 2))
    return columns


def adapter_columns(result: ClimbRecord) -> list[Col]:
    """One row per adapter: the variants that stand on it, its training time, rows and stop, its cost, and whether
    the model served now is its base."""
    by_adapter: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for variant, adapters in result.adapters().items():
        for a in adapters[:1]:
            meta, users = by_adapter.setdefault(a.name, (a.meta, []))
            users.append(variant)
    if not by_adapter:
        return []
    stale = result.stale_adapters
    bills = result.finetune_costs
    currency = result.currency
    rows = list(by_adapter.items())

    def base(users: list[str]) -> str:
        old = next((stale[u] for u in users if u in stale), None)
        return f"[yellow]stale: trained on {escape(old)}[/yellow]" if old else "current"

    def cost(users: list[str]) -> str:
        bill = next((bills[u].training for u in users if u in bills and bills[u].training is not None), None)
        return f"{bill:.2f} {escape(currency)}".strip() if bill is not None else "-"

    seconds = [meta.get("train_seconds") for _, (meta, _) in rows]
    return [
        Col("adapter", [escape(name) for name, _ in rows], "left", 0),
        Col("trained in", [duration(float(s)) if isinstance(s, (int, float)) else "-" for s in seconds], "right", 1),
        Col("base model", [base(users) for _, (_, users) in rows], "left", 2),
        Col("rows", [_count(meta.get("examples")) for _, (meta, _) in rows], "right", 3),
        Col("training cost", [cost(users) for _, (_, users) in rows], "right", 4),
        Col("stopped", [escape(_STOPPED.get(str(meta.get("stop_reason")), str(meta.get("stop_reason") or "-")))
                        for _, (meta, _) in rows], "left", 5),
        Col("variants", [escape(", ".join(users)) for _, (_, users) in rows], "left", 6),
    ]


def print_figures(result: ClimbRecord, console: Console) -> None:
    """The retrieval and adapter tables of `result`, where it has them, with the columns that fit the terminal."""
    for title, columns in (("retrieval", retrieval_columns(result)), ("adapters", adapter_columns(result))):
        if columns:
            console.print(fit.build(fit.fit(columns, console.width, always=2, bare=True), f"[bold]{title}[/bold]",
                                    bare=True))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) else "-"
