"""The cross-model frontier in HTML: a section (in each run's report of a multi-model climb) and a page of its
own (`climb --model A --model B --report PATH`). Rendered from `Frontier.to_dict()` (stored in each run's record),
never live objects; model and variant names are escaped."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rungwise.outputs import finite
from rungwise.report import charts
from rungwise.report.page import esc, money, num, page, pct, table, write_page

if TYPE_CHECKING:
    from rungwise.engine.multi import MultiClimbResult


def _cells(p: dict[str, Any]) -> list[str]:
    return [f"{pct(p.get('score'))} <span class=\"muted\">[{pct(p.get('low'))}, {pct(p.get('high'))}]</span>",
            num(p.get("prompt_tokens"), 0), num(p.get("completion_tokens"), 1), num(p.get("latency_p50_s")),
            money(p.get("cost_per_call")), money(p.get("cost_per_month"))]


def frontier_section(data: dict[str, Any]) -> str:
    """Each model's best, the chart, every point (the frontier's marked) and the recommendation with its
    paired test."""
    points: list[dict[str, Any]] = data.get("points") or []
    if not points:
        return ""
    priced = data.get("axis", "cost") == "cost"
    currency = esc(next((p.get("currency") for p in points), ""))
    x_key = "cost_per_call" if priced else "tokens_per_call"
    drawn = [p if priced else {**p, "tokens_per_call": (p.get("prompt_tokens") or 0) + (p.get("completion_tokens") or 0)}
             for p in points]
    label = f"cost per call ({next((p.get('currency') for p in points), '')})" if priced else "tokens per call"
    chart = charts.frontier(drawn, list(data.get("frontier") or []), float(data.get("target") or 0), x_label=label,
                            x_key=x_key, recommended=data.get("recommended"))
    head = ["score [95% CI]", "prompt tok", "compl tok", "p50 s", f"{currency}/call", f"{currency}/month"]
    best = table(["model", "variant", "meets the target", *head],
                 [[esc(m.get("model")), esc(m.get("variant")), "yes" if m.get("meets_target") else "no", *_cells(m)]
                  for m in data.get("models") or []], numeric={3, 4, 5, 6, 7, 8}, cls="models")
    order = {k: i for i, k in enumerate(data.get("frontier") or [])}
    key = lambda p: f"{p.get('model')} / {p.get('variant')}"  # noqa: E731
    ranked = sorted(points, key=lambda p: (order.get(key(p), len(order)), p.get("cost_per_call") or 0))
    rows = [[("recommended" if key(p) == data.get("recommended") else "frontier" if p.get("on_frontier") else ""),
             esc(p.get("model")), esc(p.get("variant")), esc(p.get("rung")), *_cells(p)] for p in ranked]
    every = table(["", "model", "variant", "rung", *head], rows, numeric={4, 5, 6, 7, 8, 9}, cls="points")
    c = data.get("comparison")
    paired = ""
    if c:
        paired = (f"<p>Paired test on the eval rows both scored ({esc(c.get('method'))}): <code>{esc(c.get('b'))}</code> "
                  f"minus <code>{esc(c.get('a'))}</code> = {c.get('difference', 0) * 100:+.1f} points, 95% CI "
                  f"[{c.get('low', 0) * 100:+.1f}, {c.get('high', 0) * 100:+.1f}], p={c.get('p_value', 1):.3g}"
                  f"{' (significant)' if c.get('significant') else ' (no measurable difference)'}.</p>")
    note = "" if priced else ("<p class=\"muted\">No model has token prices, so cost is tokens per call. Set [costs] or "
                              "each [[models]]' prices in task.toml to see money.</p>")
    return (f"<h2 id=\"frontier\">Across models: the frontier</h2><p class=\"muted\">Every (model, variant) scored on "
            f"the same eval rows, each model at its own prices. Filled points are non-dominated: no other point scores "
            f"as well for less. The ringed point is the recommendation.</p>{note}"
            f"<section class=\"verdict {'ok' if data.get('recommended') else 'miss'}\" id=\"frontier-verdict\">"
            f"<p>{esc(data.get('recommendation'))}</p>{paired}</section>"
            f"<h3>Each model's best</h3>{best}<div class=\"grid\"><div>{chart}</div><div>{every}</div></div>")


def render_frontier(result: MultiClimbResult) -> str:
    """A page of its own for a multi-model climb: the frontier, then each model's run (report it with
    `rungwise report RUN`)."""
    assert result.frontier is not None
    data = finite(result.frontier.to_dict())
    runs = table(["model", "fingerprint", "run", "shipped in its own climb"],
                 [[esc(label), f"<code>{esc(r.model)}</code>", f"<code>{esc(r.run_id)}</code>", esc(r.shipped or "-")]
                  for label, r in zip(result.labels, result.results, strict=True)], cls="runs")
    task = result.results[0].task if result.results else ""
    body = (f"<h1>{esc(task)}: which model and rung to ship</h1><p class=\"sub\">{len(result.results)} models on the "
            f"same {esc(result.results[0].n_eval if result.results else 0)} eval rows &middot; target "
            f"{pct(data.get('target'), 0)}</p>{frontier_section(data)}<h2 id=\"runs\">The runs</h2>{runs}"
            "<p class=\"muted\">Each model's ladder, diagnosis and rows: <code>rungwise report RUN</code>.</p>"
            "<footer>Written by rungwise. One file: it needs no network.</footer>")
    return page(f"rungwise: {task} across {len(result.results)} models", body, {"kind": "frontier"})


def write_frontier(result: MultiClimbResult, path: str | Path) -> Path:
    return write_page(render_frontier(result), path)
