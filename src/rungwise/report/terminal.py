"""The ladder, the checks and the estimates as rich tables. Model output never reaches the terminal unescaped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.table import Table

from rungwise.checks import CheckReport
from rungwise.climb import ClimbResult
from rungwise.early_stop import EarlyStop
from rungwise.textsafe import safe_text

if TYPE_CHECKING:
    from rungwise.multiclimb import MultiClimbResult

_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def escape(text: str) -> str:
    """Text from data, a server or a task file, made safe for the terminal: no control characters, no markup."""
    return _markup_escape(safe_text(text))


#: below this many columns the ladder drops its secondary columns instead of squeezing every one to "pro…"
WIDE = 150
#: the columns a narrow terminal keeps
_NARROW = ("variant", "score [95% CI]", "vs below", "prompt tok", "p50 s", "format fail")


def ladder_table(result: ClimbResult, width: int = WIDE) -> Table:
    title = f"{escape(result.task)}: {result.metric} on {result.n_eval} eval rows, target {result.target:.0%}"
    table = Table(title=title)
    currency = next(iter(result.costs.values())).currency if result.costs else ""
    columns = ["rung", "variant", "score [95% CI]", "vs below", "prompt tok", "compl tok", "p50 s", "p95 s",
               "format fail", "content fail", f"{currency}/call", f"{currency}/month"]
    keep = [i for i, col in enumerate(columns) if width >= WIDE or col in _NARROW]
    for i in keep:
        col = columns[i]
        table.add_column(col, justify="left" if col in ("rung", "variant", "vs below") else "right",
                         no_wrap=col in ("variant", "score [95% CI]"))
    verdicts = {}
    if result.decision:
        for verdict in result.decision.rungs:
            if verdict.against is not None:
                c = verdict.against
                rows = f", {c.n} rows" if c.n and c.n < result.n_eval else ""
                verdicts[verdict.best] = f"{verdict.verdict} ({c.difference * 100:+.1f}, p={c.p_value:.2g}{rows})"
    for v in result.variants:
        mark = " [bold green]*[/bold green]" if v.name == result.shipped else ""
        cost = result.costs.get(v.name)
        cells = [
            escape(v.rung), escape(v.name + (f" ({_mark(v.purpose)})" if v.probe else "")) + mark,
            f"{v.score:.1%} [{v.low:.1%}, {v.high:.1%}]" + (f" ({v.n} rows)" if v.stopped or v.n > result.n_eval else ""),
            escape(verdicts.get(v.name, "")),
            f"{v.mean_prompt_tokens:.0f}", f"{v.mean_completion_tokens:.1f}",
            f"{v.latency_p50_s:.2f}", f"{v.latency_p95_s:.2f}",
            str(v.format_failures), str(v.content_failures),
            f"{cost.cost_per_call:.6f}" if cost else "", f"{cost.cost_per_month:,.2f}" if cost else "",
        ]
        table.add_row(*(cells[i] for i in keep))
    return table


def _mark(purpose: str) -> str:
    """How the table marks a variant that is not a step of the ladder."""
    return purpose if purpose in ("curve", "distilled") else "probe"


def print_distill(distill: dict[str, object], console: Console) -> None:
    """The distillation a run carries (`rungwise distill`): what the student kept, saved and cost, in words."""
    from rungwise.distill import distill_sentences

    console.print(f"[bold]distillation[/bold] ({escape(str(distill.get('teacher')))} -> "
                  f"{escape(str(distill.get('student')))}, labelling run {escape(str(distill.get('labels_run_id')))}):")
    for line in distill_sentences(distill):
        console.print(f"- {escape(line)}")


def print_looks(record: dict[str, Any], console: Console) -> None:
    """The looks of climb --decide: the rows each variant was scored on, its interval narrowing, the claims."""
    from rungwise.report.looks import summary_line, terminal_rows

    table = Table(title=escape(summary_line(record)))
    for col in ("look", "rows", "level", "variants: score [interval at the level] (rows)", "claims"):
        table.add_column(escape(col), justify="right" if col in ("rows", "level") else "left")
    for row in terminal_rows(record):
        table.add_row(*(escape(c) for c in row))
    console.print(table)


def checks_table(report: CheckReport, *, show_info: bool = True) -> Table:
    table = Table(title=f"checks: {escape(report.task)}")
    for col in ("severity", "check", "finding", "rows"):
        table.add_column(col)
    for f in report.findings:
        if f.severity == "info" and not show_info:
            continue
        style = _STYLE[f.severity]
        table.add_row(f"[{style}]{f.severity}[/{style}]", f.code, escape(f.message), escape(", ".join(f.rows)))
    return table


def print_climb(result: ClimbResult, console: Console | None = None) -> None:
    console = console or Console()
    if result.checks and any(f.severity != "info" for f in result.checks.findings):
        console.print(checks_table(result.checks, show_info=False))
    if result.estimates and not result.variants:
        est = Table(title=f"dry run: {escape(result.task)}, {result.n_eval} eval rows (no model called)")
        for col in ("variant", "calls", "prompt tokens", "completion tokens (max)", "cost (max)"):
            est.add_column(col, justify="left" if col == "variant" else "right")
        for e in result.estimates:
            est.add_row(escape(e.variant), str(e.calls), f"{e.prompt_tokens:,}", f"{e.completion_tokens:,}", f"{e.cost:.4f}")
        console.print(est)
        console.print(f"total estimated cost at most {sum(e.cost for e in result.estimates):.4f}")
        return
    console.print(ladder_table(result, console.width))
    if console.width < WIDE:
        console.print(f"[dim](a terminal of {WIDE} columns, or --json, shows every column)[/dim]")
    for rung, why in result.skipped.items():
        console.print(f"[dim]skipped {escape(rung)}: {escape(why)}[/dim]")
    stopped = [v for v in result.variants if v.stopped]
    for v in stopped:
        console.print(f"[dim]{escape(v.name)} {escape(EarlyStop.from_dict(v.stopped or {}).sentence())}[/dim]")
    if stopped:
        console.print("[dim](--score-every-row scores every variant on every row)[/dim]")
    if result.extra.get("decide"):
        print_looks(result.extra["decide"], console)
    if result.decision:
        for note in result.decision.diagnosis.notes:
            console.print(f"[dim]- {escape(note)}[/dim]")
    for curve in result.curves:
        points = ", ".join(f"{n:,} rows {s:.1%}" for n, s in zip(curve.get("sizes") or [], curve.get("scores") or [],
                                                                   strict=False))
        console.print(f"learning curve of {escape(str(curve.get('name')))} ({escape(points)}): "
                      f"{escape(str(curve.get('sentence')))}")
    if result.extra.get("distill"):
        print_distill(result.extra["distill"], console)
    console.print(
        f"[dim]run {result.run_id}: {result.stats.calls} model calls, {result.stats.cache_hits} answers from cache, "
        f"{result.stats.resumed} results kept from an interrupted run; generation budget "
        f"{result.budget['max_tokens']} tokens ({escape(result.budget['reason'])})[/dim]"
    )
    changed = result.extra.get("served_model_changed")
    if changed:
        console.print(f"[yellow]served model changed:[/yellow] {escape(str(changed))}")
    bills = result.extra.get("finetune_costs") or {}
    for name, base in (result.extra.get("stale_adapters") or {}).items():
        bill = bills.get(name) or {}
        redo = (f"; retraining it costs about {bill['training']:.2f} {result.costs[name].currency}, "
                f"{bill['retraining_per_year']:.2f} a year at the task's base-model updates"
                if "training" in bill and name in result.costs else "")
        console.print(f"[yellow]stale adapter:[/yellow] {escape(name)} was trained on "
                      f"{escape(base)}, not on the model served now{redo}")
    if result.extra.get("token_counts"):
        console.print(f"[dim]token counts of the estimates: {escape(str(result.extra['token_counts']))}[/dim]")
    if result.stats.server_failures:
        console.print(f"[yellow]the server failed {result.stats.server_failures} rows[/yellow] (answers that were not a "
                      "chat completion after every retry: scored 0, failure kind 'server'; a resumed run asks again)")
    console.print(escape(result.recommendation))
    if result.extra.get("frontier"):
        print_frontier(result.extra["frontier"], console)


def frontier_tables(data: dict[str, Any]) -> list[Table]:
    """The frontier (`Frontier.to_dict()`, live or stored) as two tables: each model's best, and every point."""
    axis = data.get("axis", "cost")
    points: list[dict[str, Any]] = data.get("points") or []
    currency = next((str(p.get("currency")) for p in points), "")
    best = Table(title=f"each model's best (the cheapest variant meeting the target of {data.get('target', 0):.0%}, "
                       "else the best-scoring)")
    cols = ["model", "variant", "meets", "score [95% CI]", "prompt tok", "compl tok", "p50 s", f"{currency}/call",
            f"{currency}/month"]
    for col in cols:
        best.add_column(escape(col), justify="left" if col in ("model", "variant", "meets") else "right")
    for m in data.get("models") or []:
        best.add_row(escape(str(m["model"])), escape(str(m["variant"])), "yes" if m.get("meets_target") else "no",
                     *_point_cells(m))
    title = ("the frontier: score against cost per call" if axis == "cost" else
             "the frontier: score against tokens per call (the task sets no prices)")
    every = Table(title=f"{title}; * non-dominated (no point scores as well for less)")
    for col in ("", "model", "variant", "rung", "score [95% CI]", "prompt tok", "compl tok", "p50 s",
                f"{currency}/call", f"{currency}/month"):
        every.add_column(escape(col), justify="left" if col in ("", "model", "variant", "rung") else "right")
    order = {key: i for i, key in enumerate(data.get("frontier") or [])}
    key = lambda p: f"{p['model']} / {p['variant']}"  # noqa: E731
    ranked = sorted(points, key=lambda p: (order.get(key(p), len(order)), p.get("cost_per_call") or 0,
                                           -(p.get("score") or 0)))
    for p in ranked:
        mark = "[bold green]*[/bold green]" if key(p) == data.get("recommended") else "*" if p.get("on_frontier") else ""
        every.add_row(mark, escape(str(p["model"])), escape(str(p["variant"])), escape(str(p.get("rung", ""))),
                      *_point_cells(p))
    return [best, every]


def _point_cells(p: dict[str, Any]) -> list[str]:
    return [f"{p.get('score') or 0:.1%} [{p.get('low') or 0:.1%}, {p.get('high') or 0:.1%}]",
            f"{p.get('prompt_tokens') or 0:.0f}", f"{p.get('completion_tokens') or 0:.1f}",
            f"{p.get('latency_p50_s') or 0:.2f}", f"{p.get('cost_per_call') or 0:.6f}",
            f"{p.get('cost_per_month') or 0:,.2f}"]


def print_frontier(data: dict[str, Any], console: Console) -> None:
    for t in frontier_tables(data):
        console.print(t)
    console.print(f"[bold]across models:[/bold] {escape(str(data.get('recommendation', '')))}")


def print_multi(result: MultiClimbResult, console: Console | None = None) -> None:
    """Each model's ladder, then the frontier across them and its recommendation."""
    console = console or Console()
    for label, r in zip(result.labels, result.results, strict=True):
        console.rule(f"model {escape(label)} ({escape(r.model)})")
        print_climb(r, console)
    if result.frontier is not None:
        console.rule("across models")
        print_frontier(result.frontier.to_dict(), console)
