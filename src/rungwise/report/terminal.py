"""The ladder as a rich table. Model output never reaches the terminal unescaped."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rungwise.climb import ClimbResult


def ladder_table(result: ClimbResult) -> Table:
    table = Table(title=f"{escape(result.task)}: {result.metric} on {result.n_eval} eval rows, target {result.target:.0%}")
    for col, justify in [("rung", "left"), ("variant", "left"), ("score [95% CI]", "right"), ("prompt tok", "right"),
                         ("compl tok", "right"), ("p50 s", "right"), ("p95 s", "right"), ("format fail", "right"),
                         ("content fail", "right")]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for v in result.variants:
        mark = " *" if v.name == result.shipped else ""
        table.add_row(
            escape(v.rung), escape(v.name + (" (probe)" if v.probe else "")) + mark,
            f"{v.score:.1%} [{v.low:.1%}, {v.high:.1%}]",
            f"{v.mean_prompt_tokens:.0f}", f"{v.mean_completion_tokens:.1f}",
            f"{v.latency_p50_s:.2f}", f"{v.latency_p95_s:.2f}",
            str(v.format_failures), str(v.content_failures),
        )
    return table


def print_climb(result: ClimbResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(ladder_table(result))
    for rung, why in result.skipped.items():
        console.print(f"[dim]skipped {escape(rung)}: {escape(why)}[/dim]")
    console.print(
        f"[dim]run {result.run_id}: {result.stats.calls} model calls, {result.stats.cache_hits} answers from cache, "
        f"{result.stats.resumed} results kept from an interrupted run; generation budget "
        f"{result.budget['max_tokens']} tokens ({escape(result.budget['reason'])})[/dim]"
    )
    console.print(escape(result.recommendation))
