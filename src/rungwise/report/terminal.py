"""The ladder, the checks and the estimates as rich tables. Model output never reaches the terminal unescaped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from rungwise.judge.early_stop import EarlyStop
from rungwise.record.schema import ChecksRecord, ClimbRecord
from rungwise.report import fit
from rungwise.report.fit import Col, escape
from rungwise.task.checks import CheckReport

if TYPE_CHECKING:
    from rungwise.engine.compare import ModelChange, VariantDiff
    from rungwise.engine.gate import GateResult
    from rungwise.engine.multi import MultiClimbResult
    from rungwise.models.base import ModelInfo
    from rungwise.store import RunInfo
    from rungwise.store.copy import CopyReport

_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


#: the ladder's columns by importance: the first two always, the others while they fit the terminal whole
_RANKS = ("variant", "score [95% CI]", "prompt tok", "format fail", "p50 s", "vs below", "compl tok", "content fail",
          "p95 s", "/call", "/month", "rung")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _n(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _verdicts(result: ClimbRecord) -> dict[str, str]:
    """Each rung's best variant against the best rung below that brought a gain: the verdict, in short."""
    verdicts = {}
    for verdict in result.decision.rungs if result.decision else []:
        if verdict.against is not None:
            c = verdict.against
            rows = f", {c.n} rows" if c.n and c.n < result.n_eval else ""
            verdicts[verdict.best] = f"{verdict.verdict} ({_n(_x100(c.difference), '+.1f')}, p={_n(c.p_value, '.2g')}{rows})"
    return verdicts


def _x100(x: float | None) -> float | None:
    return None if x is None else x * 100


def ladder_columns(result: ClimbRecord) -> list[Col]:
    """Every column the ladder has, with its cells."""
    currency = result.currency
    verdicts = _verdicts(result)
    cells: dict[str, list[str]] = {name: [] for name in _RANKS}
    for v in result.variants:
        cost = v.cost
        mark = " [bold green]*[/bold green]" if v.name == result.shipped else ""
        for name, cell in (
            ("rung", escape(v.rung)),
            ("variant", escape(v.name + (f" ({_mark(v.purpose)})" if v.probe else "")) + mark),
            ("score [95% CI]", f"{_pct(v.score)} [{_pct(v.low)}, {_pct(v.high)}]"
             + (f" ({v.n} rows)" if v.stopped or v.n > result.n_eval else "")),
            ("vs below", escape(verdicts.get(v.name, ""))),
            ("prompt tok", _n(v.mean_prompt_tokens, ".0f")), ("compl tok", _n(v.mean_completion_tokens, ".1f")),
            ("p50 s", _n(v.latency_p50_s, ".2f")), ("p95 s", _n(v.latency_p95_s, ".2f")),
            ("format fail", str(v.format_failures)), ("content fail", str(v.content_failures)),
            ("/call", _n(cost.cost_per_call, ".6f") if cost else ""),
            ("/month", _n(cost.cost_per_month, ",.2f") if cost else ""),
        ):
            cells[name].append(cell)
    order = ("rung", "variant", "score [95% CI]", "vs below", "prompt tok", "compl tok", "p50 s", "p95 s",
             "format fail", "content fail", "/call", "/month")
    return [Col(escape(f"{currency}{name}") if name.startswith("/") else name, cells[name],
                "left" if name in ("rung", "variant", "vs below") else "right", _RANKS.index(name))
            for name in order]


def ladder_table(result: ClimbRecord, width: int = 10_000) -> Table:
    """The ladder: a row per variant, with the columns that fit `width` whole (`ladder_notes` says the rest)."""
    title = f"{escape(result.task)}: {result.metric} on {result.n_eval} eval rows, target {result.target:.0%}"
    return fit.build(fit.fit(ladder_columns(result), width, always=2), title)


def ladder_notes(result: ClimbRecord, width: int) -> list[str]:
    """What the ladder table left out at `width`, as lines under it: each rung's verdict when its column did not
    fit, and the width that shows every column."""
    columns = ladder_columns(result)
    shown = {f.col.header for f in fit.fit(columns, width, always=2)}
    lines = []
    if "vs below" not in shown and result.decision:
        for verdict in result.decision.rungs:
            c = verdict.against
            if c is not None:
                rows = f", {c.n} rows" if c.n and c.n < result.n_eval else ""
                than = "than" if verdict.verdict == "worse" else "over"
                lines.append(f"{escape(verdict.best)}: {verdict.verdict} {than} {escape(c.a)} "
                             f"({_n(_x100(c.difference), '+.1f')}, p={_n(c.p_value, '.2g')}{rows})")
    if len(shown) < len(columns):
        lines.append(f"[dim](a terminal of {fit.table_width(columns)} columns, or --json, shows every column)[/dim]")
    return lines


def shipped_of(summary: dict[str, Any] | None) -> tuple[str, str]:
    """The shipped variant of a run's stored summary and its score, as text."""
    summary = summary or {}
    shipped = summary.get("shipped")
    scores = {v.get("name"): v.get("score") for v in summary.get("variants") or [] if isinstance(v, dict)}
    score = scores.get(shipped)
    return str(shipped or "-"), f"{score:.1%}" if isinstance(score, (int, float)) else "-"


def runs_columns(runs: Sequence[RunInfo]) -> list[Col]:
    """The columns of `rungwise runs`, by importance: the run id first (what a user copies), the date last (the id
    starts with it)."""
    rows = [(r, *shipped_of(r.summary)) for r in runs]
    return [
        Col("run", [escape(r.id) for r, _, _ in rows], "left", 0),
        Col("task", [escape(r.task_name) for r, _, _ in rows], "left", 1),
        Col("model", [escape(r.model) for r, _, _ in rows], "left", 5),
        Col("status", [escape(r.status) for r, _, _ in rows], "left", 2),
        Col("shipped", [escape(shipped) for _, shipped, _ in rows], "left", 3),
        Col("score", [score for _, _, score in rows], "right", 4),
        Col("date", [datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M") for r, _, _ in rows], "left", 6),
    ]


def print_runs(runs: Sequence[RunInfo], console: Console) -> None:
    """The runs of a store, one a line, with the columns that fit the terminal whole: a run id is never cut."""
    _print_listing(runs_columns(runs), console)


def print_baselines(history: Sequence[tuple[RunInfo, float]], console: Console) -> None:
    """A task's baseline runs, the current one first, with when each was set, as `print_runs` lists runs."""
    columns = [
        Col("", ["current" if i == 0 else "" for i in range(len(history))], "left", 0),
        Col("run", [escape(r.id) for r, _ in history], "left", 1),
        Col("shipped", [escape(shipped_of(r.summary)[0]) for r, _ in history], "left", 2),
        Col("score", [shipped_of(r.summary)[1] for r, _ in history], "right", 3),
        Col("set", [datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M") for _, at in history], "left", 4),
        Col("model", [escape(r.model) for r, _ in history], "left", 5),
    ]
    _print_listing(columns, console)


def _print_listing(columns: list[Col], console: Console) -> None:
    shown = fit.fit(columns, console.width, always=2, bare=True)
    console.print(fit.build(shown, bare=True))
    if len(shown) < len(columns):
        left = ", ".join(c.header for c in columns if c.header not in {f.col.header for f in shown})
        console.print(f"[dim](not shown: {left}; a terminal of {fit.table_width(columns, bare=True)} columns shows "
                      "them)[/dim]")


def _mark(purpose: str) -> str:
    """How the table marks a variant that is not a step of the ladder."""
    return purpose if purpose in ("curve", "distilled") else "probe"


def print_distill(distill: dict[str, object], console: Console) -> None:
    """The distillation a run carries (`rungwise distill`): what the student kept, saved and cost, in words."""
    from rungwise.judge.distillation import distill_sentences

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


def checks_table(report: CheckReport | ChecksRecord, *, show_info: bool = True) -> Table:
    table = Table(title=f"checks: {escape(report.task)}")
    for col in ("severity", "check", "finding", "rows"):
        table.add_column(col)
    for f in report.findings:
        if f.severity == "info" and not show_info:
            continue
        style = _STYLE[f.severity]
        table.add_row(f"[{style}]{f.severity}[/{style}]", f.code, escape(f.message), escape(", ".join(f.rows)))
    return table


def print_climb(result: ClimbRecord, console: Console | None = None) -> None:
    """A climb's summary, from its record: what the live climb prints and `rungwise show RUN` prints again."""
    console = console or Console()
    if result.checks and any(f.severity != "info" for f in result.checks.findings):
        console.print(checks_table(result.checks, show_info=False))
    if result.estimates and not result.variants:
        est = Table(title=f"dry run: {escape(result.task)}, {result.n_eval} eval rows (no model called)")
        for col in ("variant", "calls", "prompt tokens", "completion tokens (max)", "cost (max)"):
            est.add_column(col, justify="left" if col == "variant" else "right")
        for e in result.estimates:
            est.add_row(escape(e.variant), str(e.calls), f"{e.prompt_tokens:,}", f"{e.completion_tokens:,}",
                        _n(e.cost, ".4f"))
        console.print(est)
        total = sum(e.cost for e in result.estimates if e.cost is not None)
        console.print(f"total estimated cost at most {total:.4f}")
        return
    console.print(ladder_table(result, console.width))
    for line in ladder_notes(result, console.width):
        console.print(line)
    for rung, why in result.skipped.items():
        console.print(f"[dim]skipped {escape(rung)}: {escape(why)}[/dim]")
    stopped = [v for v in result.variants if v.stopped]
    for v in stopped:
        console.print(f"[dim]{escape(v.name)} {escape(EarlyStop.from_dict(v.stopped or {}).sentence())}[/dim]")
    if stopped:
        console.print("[dim](--score-every-row scores every variant on every row)[/dim]")
    if result.decide:
        print_looks(result.decide, console)
    from rungwise.report.figures import print_figures  # it renders with this module's escape

    print_figures(result, console)
    if result.decision:
        for note in result.decision.diagnosis.notes:
            console.print(f"[dim]- {escape(note)}[/dim]")
    for curve in result.curves:
        points = ", ".join(f"{n:,} rows {s:.1%}" for n, s in zip(curve.get("sizes") or [], curve.get("scores") or [],
                                                                   strict=False))
        console.print(f"learning curve of {escape(str(curve.get('name')))} ({escape(points)}): "
                      f"{escape(str(curve.get('sentence')))}")
    if result.distill:
        print_distill(result.distill, console)
    console.print(
        f"[dim]run {escape(result.run_id)}: {result.calls} model calls, {result.cache_hits} answers from cache, "
        f"{result.resumed} results kept from an interrupted run; generation budget "
        f"{result.budget.max_tokens} tokens ({escape(result.budget.reason)})[/dim]"
    )
    if result.served_model_changed:
        console.print(f"[yellow]served model changed:[/yellow] {escape(result.served_model_changed)}")
    for name, base in result.stale_adapters.items():
        bill = result.finetune_costs.get(name)
        redo = (f"; retraining it costs about {bill.training:.2f} {escape(result.currency)}, "
                f"{bill.retraining_per_year or 0:.2f} a year at the task's base-model updates"
                if bill is not None and bill.training is not None and result.currency else "")
        console.print(f"[yellow]stale adapter:[/yellow] {escape(name)} was trained on "
                      f"{escape(base)}, not on the model served now{redo}")
    if result.token_counts:
        console.print(f"[dim]token counts of the estimates: {escape(result.token_counts)}[/dim]")
    if result.server_failures:
        console.print(f"[yellow]the server failed {result.server_failures} rows[/yellow] (answers that were not a "
                      "chat completion after every retry: scored 0, failure kind 'server'; a resumed run asks again)")
    console.print(escape(result.recommendation))
    if result.frontier:
        print_frontier(result.frontier, console)


def frontier_columns(data: dict[str, Any]) -> tuple[list[Col], list[Col]]:
    """The frontier (`Frontier.to_dict()`, live or stored) as the columns of two tables, by importance: each
    model's best, and every point (the non-dominated ones first)."""
    points: list[dict[str, Any]] = data.get("points") or []
    currency = next((str(p.get("currency")) for p in points), "")
    models: list[dict[str, Any]] = data.get("models") or []
    best = [Col("model", [escape(str(m["model"])) for m in models], "left", 0, fold=True),
            Col("variant", [escape(str(m["variant"])) for m in models], "left", 1),
            Col("meets", ["yes" if m.get("meets_target") else "no" for m in models], "left", 4),
            *_point_columns(models, currency, 2)]
    order = {key: i for i, key in enumerate(data.get("frontier") or [])}
    key = lambda p: f"{p['model']} / {p['variant']}"  # noqa: E731
    ranked = sorted(points, key=lambda p: (order.get(key(p), len(order)), p.get("cost_per_call") or 0,
                                           -(p.get("score") or 0)))
    marks = ["[bold green]*[/bold green]" if key(p) == data.get("recommended") else "*" if p.get("on_frontier")
             else "" for p in ranked]
    every = [Col("", marks, "left", 0), Col("model", [escape(str(p["model"])) for p in ranked], "left", 1, fold=True),
             Col("variant", [escape(str(p["variant"])) for p in ranked], "left", 2),
             Col("rung", [escape(str(p.get("rung", ""))) for p in ranked], "left", 20),
             *_point_columns(ranked, currency, 3)]
    return best, every


def _point_columns(points: list[dict[str, Any]], currency: str, rank: int) -> list[Col]:
    """Score, tokens, latency and cost of frontier points, ranked from `rank` on (score and cost per call first)."""
    cells: list[tuple[str, int, Any]] = [
        ("score [95% CI]", 0, lambda p: f"{p.get('score') or 0:.1%} [{p.get('low') or 0:.1%}, {p.get('high') or 0:.1%}]"),
        ("prompt tok", 2, lambda p: f"{p.get('prompt_tokens') or 0:.0f}"),
        ("compl tok", 4, lambda p: f"{p.get('completion_tokens') or 0:.1f}"),
        ("p50 s", 3, lambda p: f"{p.get('latency_p50_s') or 0:.2f}"),
        (f"{currency}/call", 1, lambda p: f"{p.get('cost_per_call') or 0:.6f}"),
        (f"{currency}/month", 5, lambda p: f"{p.get('cost_per_month') or 0:,.2f}"),
    ]
    return [Col(escape(header), [cell(p) for p in points], "right", rank + r) for header, r, cell in cells]


def print_frontier(data: dict[str, Any], console: Console) -> None:
    """Each model's best and every point, with the columns that fit the terminal whole, then the recommendation."""
    target = f"{data.get('target', 0):.0%}"
    title = ("the frontier: score against cost per call" if data.get("axis", "cost") == "cost" else
             "the frontier: score against tokens per call (the task sets no prices)")
    best, every = frontier_columns(data)
    for columns, always, heading in (
            (best, 5, f"each model's best (the cheapest variant meeting the target of {target}, else the best-scoring)"),
            (every, 5, f"{title}; * non-dominated (no point scores as well for less)")):
        shown = fit.fit(columns, console.width, always=always)
        console.print(fit.build(shown, heading))
        if len(shown) < len(columns):
            console.print(f"[dim](a terminal of {fit.table_width(columns)} columns, or --json, shows every column)"
                          "[/dim]")
    console.print(f"[bold]across models:[/bold] {escape(str(data.get('recommendation', '')))}")


def print_multi(result: MultiClimbResult, console: Console | None = None) -> None:
    """Each model's ladder, then the frontier across them and its recommendation."""
    console = console or Console()
    for label, r in zip(result.labels, result.results, strict=True):
        console.rule(f"model {escape(label)} ({escape(r.model)})")
        print_climb(r.record().model_copy(update={"frontier": None}), console)
    if result.frontier is not None:
        console.rule("across models")
        print_frontier(result.frontier.to_dict(), console)


# -- the other commands' output (rungwise models, compare, gate, baseline set, store migrate, distill) ----------
def print_model_info(info: ModelInfo, console: Console, *, adapters: str | None = None) -> None:
    """What `rungwise models` found a model's server to be and offer, one item a line."""
    caps = info.capabilities
    unknown = "unknown"
    lines = [
        ("model", info.served_model), ("server", info.server_kind), ("fingerprint", info.fingerprint),
        ("context length", f"{caps.context_length:,} tokens" if caps.context_length else unknown),
        ("constrained output", ", ".join(caps.methods()) + f" (sent as: {caps.dialect})" if caps.methods() else "none"),
        ("tokenizer", "the server's /tokenize" if caps.tokenize else "none: counts are estimates, calibrated from usage"),
        ("logprobs", unknown if caps.logprobs is None else "yes" if caps.logprobs else "no"),
        ("capabilities", caps.source),
    ]
    if adapters:
        lines.insert(-1, ("LoRA adapters", adapters))
    for key, value in lines:
        console.print(f"{key:>19}: {escape(str(value))}")


def model_info_dict(info: ModelInfo) -> dict[str, Any]:
    """What `rungwise models --json` prints."""
    caps = info.capabilities
    return {"model": info.served_model, "fingerprint": info.fingerprint, "server_kind": info.server_kind,
            **caps.to_dict(), "constrained_output": caps.methods()}


def print_compare(diffs: Sequence[VariantDiff], change: ModelChange, console: Console) -> None:
    """`rungwise compare`: what changed about the model, then the paired diff of each variant (b minus a)."""
    from rich.table import Column

    for line in change.lines():
        console.print(f"[yellow]{escape(line)}[/yellow]")
    table = Table("variant", "n", "a", "b", "b - a [95% CI]", "p", Column("rows -/+", no_wrap=True),
                  Column("verdict", no_wrap=True))
    for d in diffs:
        verdict = "[red]regressed[/red]" if d.regressed else "[green]improved[/green]" if d.improved else "no measurable change"
        table.add_row(escape(d.variant), str(d.n), f"{d.score_a:.1%}", f"{d.score_b:.1%}",
                      f"{d.difference * 100:+.1f} [{d.low * 100:+.1f}, {d.high * 100:+.1f}]", f"{d.p_value:.3g}",
                      f"{d.worse_rows}/{d.better_rows}", verdict)
    console.print(table)


def print_gate(outcome: GateResult, console: Console) -> None:
    """`rungwise gate`: the model's change against the baseline's, then one verdict a variant (the verdict line is
    the caller's: it goes to stderr when the gate fails)."""
    for note in outcome.model.lines() if outcome.model is not None else []:
        console.print(f"[yellow]{escape(note)}[/yellow]")
    for v in outcome.verdicts:
        d = v.diff
        need = f", about {v.rows_needed} rows would rule out the margin" if v.rows_needed else ""
        console.print(f"{v.status.upper():12} {escape(d.variant)}: {d.score_a:.1%} -> {d.score_b:.1%} "
                      f"({d.difference * 100:+.1f} points, 95% CI [{d.low * 100:+.1f}, {d.high * 100:+.1f}], "
                      f"p={d.p_value:.3g}, n={d.n}{need})")


def print_baseline_set(task_name: str, run: RunInfo, console: Console) -> None:
    """`rungwise baseline set`: the run promoted, and a note when variants of it stopped early."""
    console.print(f"baseline of {escape(task_name)}: run {escape(run.id)}")
    stopped = [v for v in (run.summary or {}).get("variants") or [] if v.get("stopped")]
    if stopped:
        short = ", ".join(f"{v['name']} ({v['stopped']['rows']} rows)" for v in stopped)
        console.print(f"[yellow]note:[/yellow] {escape(short)} stopped early in this run: the gate can compare them "
                      f"on those rows only, not on all {stopped[0]['stopped']['of']}. For a baseline with every row: "
                      "climb with --score-every-row and promote that run.")


def print_store_copy(done: CopyReport, source: str, target: str, console: Console) -> None:
    """`rungwise store migrate`: per table, the rows in the source, added, already there and left out."""
    table = Table("table", "in source", "added", "already there", "left out (no such run)")
    for name, seen in done.source.items():
        added, orphans = done.added[name], done.orphans[name]
        table.add_row(name, str(seen), str(added), str(seen - added - orphans), str(orphans))
    console.print(table)
    console.print(f"copied {escape(source)} into {escape(target)}")


def print_distilled(climbed: ClimbRecord, distill: dict[str, object], console: Console) -> None:
    """`rungwise distill`: the run's ladder with the student in it, then the distillation in words."""
    console.print(ladder_table(climbed, console.width))
    for line in ladder_notes(climbed, console.width):
        console.print(line)
    print_distill(distill, console)
