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
        Col("trained with", [escape(trained_with(meta)) for _, (meta, _) in rows], "left", 7),
    ]


def trained_with(meta: dict[str, Any]) -> str:
    """Which trainer made an adapter, where, and how fast: "TRL, cuda x4, 2,100 tok/s", "hosted job"."""
    if meta.get("hosted"):
        return "hosted job"
    who = "TRL" if meta.get("trainer") == "trl" else "rungwise"
    where = str(meta.get("device") or "")
    processes = meta.get("processes")
    if isinstance(processes, int) and processes > 1:
        where += f" x{processes}"
    rate = meta.get("tokens_per_s")
    speed = f"{rate:,.0f} tok/s" if isinstance(rate, (int, float)) else ""
    return ", ".join(p for p in (who, where, speed) if p)


def search_columns(result: ClimbRecord) -> list[Col]:
    """One row per prompt search: the dev score before (the clear prompt) and after (the winner) with the sign
    test's p between them (the rungs above stack on the winner only when it is below 0.05), what it spent
    (metric calls, proposals, model calls not answered from the cache, tokens, time) and its one-off cost."""
    found = [(name, s) for name, s in result.prompt_search.items() if not s.planned]
    if not found:
        return []
    currency = escape(result.currency)

    def tokens(s: Any) -> str:
        t = s.task_model, s.proposer_calls
        total = sum(float(d.get("prompt_tokens", 0)) + float(d.get("completion_tokens", 0)) for d in t)
        return _count(total)

    return [
        Col("variant", [escape(name) for name, _ in found], "left", 0),
        Col("dev before", [_pct(s.dev_before) for _, s in found], "right", 1),
        Col("dev after", [_pct(s.dev_after) for _, s in found], "right", 1),
        Col("dev p", [_p(s.dev_p) for _, s in found], "right", 2),
        Col("metric calls", [f"{s.metric_calls:,}/{s.budget:,}" for _, s in found], "right", 2),
        Col("proposals", [_count(s.proposals) for _, s in found], "right", 3),
        Col("calls made", [_count(float(s.task_model.get("calls", 0)) + float(s.proposer_calls.get("calls", 0)))
                           for _, s in found], "right", 5),
        Col("tokens", [tokens(s) for _, s in found], "right", 4),
        Col("time", [duration(s.seconds) if s.seconds is not None else "-" for _, s in found], "right", 2),
        Col("one-off cost", [f"{s.cost:.4f} {currency}".strip() if s.cost is not None else "-" for _, s in found],
            "right", 1),
        Col("stacked", ["yes" if s.stacked else "no" for _, s in found], "left", 6),
    ]


def one_off_line(result: ClimbRecord) -> str | None:
    """The one-off costs side by side: the prompt search's against fine-tuning's training, where both ran."""
    searches = [(n, s.cost) for n, s in result.prompt_search.items() if not s.planned and s.cost is not None]
    trainings = [(n, b.training) for n, b in result.finetune_costs.items() if b.training is not None]
    if not searches:
        return None
    currency = f" {result.currency}" if result.currency else ""
    parts = [f"prompt search {cost:.4f}{currency} ({escape(n)})" for n, cost in searches]
    parts += [f"fine-tune training {cost:.2f}{currency} ({escape(n)})" for n, cost in trainings]
    return "one-off costs: " + "; ".join(parts)


def print_figures(result: ClimbRecord, console: Console) -> None:
    """The retrieval, prompt-search and adapter tables of `result`, where it has them, with the columns that fit
    the terminal."""
    for title, columns in (("retrieval", retrieval_columns(result)), ("prompt search", search_columns(result)),
                           ("adapters", adapter_columns(result))):
        if columns:
            console.print(fit.build(fit.fit(columns, console.width, always=2, bare=True), f"[bold]{title}[/bold]",
                                    bare=True))
    for name, search in result.prompt_search.items():
        winner = str((search.winner or {}).get("instruction") or "")
        if winner and not search.planned:
            short = winner if len(winner) <= 240 else winner[:239] + "…"
            console.print(f"[dim]{escape(name)}'s instruction ({escape(str((search.winner or {}).get('origin')))}): "
                          f"{escape(' '.join(short.split()))} (whole: rungwise export-prompt {escape(result.run_id)})"
                          "[/dim]")
    line = one_off_line(result)
    if line:
        console.print(line)


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) else "-"
