"""Two stored runs compared as one self-contained HTML page: per variant the paired difference (b minus a) with its
interval and p-value, and the rows that flipped (right to wrong, wrong to right) with both outputs side by side.
Rendered from the two stored records plus the paired tests of `rungwise.engine.compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rungwise.engine.compare import VariantDiff, compare_runs
from rungwise.record.stored import ClimbReport, load_report
from rungwise.report.charts import OK, TARGET, svg_frame
from rungwise.report.page import esc, page, pct, table, write_page
from rungwise.store import Store


def flips(a: ClimbReport, b: ClimbReport, variants: list[str]) -> list[dict[str, Any]]:
    """Rows whose outcome changed between the runs, per variant: 'worse' (right in a, wrong in b) or 'better'."""
    rows_a = {r.id: i for i, r in enumerate(a.rows)}
    out: list[dict[str, Any]] = []
    for name in variants:
        va, vb = a.variants.get(name), b.variants.get(name)
        if va is None or vb is None:
            continue
        for j, row in enumerate(b.rows):
            i = rows_a.get(row.id)
            if i is None or va.score[i] is None or vb.score[j] is None:
                continue
            right_a, right_b = va.failure[i] is None, vb.failure[j] is None
            if right_a == right_b:
                continue
            source = row if row.input is not None else a.rows[i]
            out.append({"variant": name, "dir": "worse" if right_a else "better", "id": row.id, "input": source.input,
                        "target": source.target, "a_out": va.output[i], "a_score": va.score[i], "a_fail": va.failure[i],
                        "b_out": vb.output[j], "b_score": vb.score[j], "b_fail": vb.failure[j]})
    return out


def forest(diffs: list[VariantDiff]) -> str:
    """Each variant's paired difference with its 95% interval, around zero."""
    left, right, top, row, width = 200, 80, 30, 26, 760
    plot = width - left - right
    height = top + row * len(diffs) + 30
    span = max([0.05] + [max(abs(d.low), abs(d.high)) for d in diffs]) * 1.1
    x = lambda v: left + plot * (v + span) / (2 * span)  # noqa: E731
    out = ["<g class=\"axis\">"]
    for k in range(-2, 3):
        t = span * k / 2
        out.append(f"<line x1=\"{x(t):.1f}\" x2=\"{x(t):.1f}\" y1=\"{top - 6}\" y2=\"{height - 24}\" "
                   f"stroke=\"{'#9aa3b2' if k == 0 else '#e3e7ee'}\"/><text x=\"{x(t):.1f}\" y=\"{height - 8}\" "
                   f"text-anchor=\"middle\">{t * 100:+.0f} pts</text>")
    out.append(f"<text x=\"{left}\" y=\"14\">b worse</text><text x=\"{left + plot}\" y=\"14\" text-anchor=\"end\">"
               "b better</text></g>")
    for k, d in enumerate(diffs):
        cy = top + k * row + row / 2
        c = TARGET if d.regressed else OK if d.improved else "#5b6475"
        out.append(f"<g class=\"variant\" data-variant=\"{esc(d.variant)}\"><text x=\"{left - 10}\" y=\"{cy + 4:.1f}\" "
                   f"text-anchor=\"end\">{esc(d.variant)}</text><line class=\"interval\" x1=\"{x(d.low):.1f}\" "
                   f"x2=\"{x(d.high):.1f}\" y1=\"{cy:.1f}\" y2=\"{cy:.1f}\" stroke=\"{c}\" stroke-width=\"3\" "
                   f"stroke-linecap=\"round\"/><circle class=\"point\" cx=\"{x(d.difference):.1f}\" cy=\"{cy:.1f}\" r=\"5\" "
                   f"fill=\"{c}\"><title>{esc(d.variant)}: {d.difference * 100:+.1f} points [{d.low * 100:+.1f}, "
                   f"{d.high * 100:+.1f}], p={d.p_value:.3g}</title></circle><text class=\"muted\" x=\"{width - 4}\" "
                   f"y=\"{cy + 4:.1f}\" text-anchor=\"end\">p={d.p_value:.2g}</text></g>")
    return svg_frame(width, height, "chart chart-diff", "Paired difference per variant (b minus a) with its 95% interval", out)


def render_compare(store: Store, run_a: str, run_b: str) -> str:
    """The comparison page of two stored runs (b minus a)."""
    diffs = compare_runs(store, run_a, run_b)
    a, b = load_report(store, run_a), load_report(store, run_b)
    changed = flips(a, b, [d.variant for d in diffs])
    worse = {d.variant: sum(1 for f in changed if f["variant"] == d.variant and f["dir"] == "worse") for d in diffs}
    better = {d.variant: sum(1 for f in changed if f["variant"] == d.variant and f["dir"] == "better") for d in diffs}
    rows = []
    for d in diffs:
        verdict = ("<span class=\"bad\">regressed</span>" if d.regressed else
                   "<span class=\"good\">improved</span>" if d.improved else "no measurable change")
        rows.append([esc(d.variant), str(d.n), pct(d.score_a), pct(d.score_b),
                     f"{d.difference * 100:+.1f} [{d.low * 100:+.1f}, {d.high * 100:+.1f}]", f"{d.p_value:.3g}",
                     esc(d.method), verdict, str(worse[d.variant]), str(better[d.variant])])
    runs = table(["", "run a", "run b"], [
        ["run", esc(a.run.id), esc(b.run.id)], ["task", esc(a.run.task), esc(b.run.task)],
        ["task hash", esc(a.run.task_hash), esc(b.run.task_hash)],
        ["model", esc(a.run.served_model or a.run.model), esc(b.run.served_model or b.run.model)],
        ["shipped", esc(a.result.shipped), esc(b.result.shipped)],
        ["rungwise", esc(a.run.rungwise_version), esc(b.run.rungwise_version)],
    ], cls="runs")
    warn = ("<p class=\"note\">The runs scored different task data (the task hashes differ): only the rows both "
            "scored are compared.</p>" if a.run.task_hash != b.run.task_hash else "")
    notes = "".join(f"<p class=\"note\">{esc(n)}</p>" for n in {*a.notes, *b.notes})
    body = (
        f"<h1>{esc(b.run.task)}: run b against run a</h1><p class=\"sub\">b <code>{esc(b.run.id)}</code> minus a "
        f"<code>{esc(a.run.id)}</code>, on the eval rows both scored; paired tests.</p>{warn}{notes}{runs}"
        "<h2 id=\"diffs\">Paired differences</h2>" + forest(diffs)
        + table(["variant", "rows", "a", "b", "b - a [95% CI], points", "p", "test", "verdict", "right → wrong",
                 "wrong → right"], rows, numeric={1, 2, 3, 4, 5, 8, 9}, cls="diffs")
        + "<h2 id=\"rows-section\">Rows that flipped</h2><div class=\"controls\">"
        "<label>search <input type=\"search\" id=\"q\" placeholder=\"input, expected or output\"></label>"
        "<label>variant <select id=\"variant\"></select></label><label>direction <select id=\"dir\">"
        "<option value=\"\">both</option><option value=\"worse\">right → wrong</option>"
        "<option value=\"better\">wrong → right</option></select></label></div>"
        "<div class=\"scroll\"><table id=\"rows\"><thead><tr><th>variant</th><th>change</th><th>id</th><th>input</th>"
        "<th>expected</th><th>output in a</th><th>output in b</th></tr></thead><tbody id=\"rows-body\"></tbody></table>"
        "</div><div class=\"pager\"><button type=\"button\" id=\"prev\">previous</button><span id=\"page-info\"></span>"
        "<button type=\"button\" id=\"next\">next</button></div>"
        "<footer>Written by rungwise from the stored records of both runs. One file: it needs no network.</footer>"
    )
    methods = {d.method for d in diffs}
    data = {"kind": "compare", "binary": methods <= {"mcnemar-exact"}, "variants": [d.variant for d in diffs],
            "flips": changed}
    return page(f"rungwise: {b.run.id} against {a.run.id}", body, data)


def write_compare(store: Store, run_a: str, run_b: str, path: str | Path) -> Path:
    return write_page(render_compare(store, run_a, run_b), path)
