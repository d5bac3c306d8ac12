"""The looks of `climb --decide` (rungwise.judge.sequential), as the terminal, the HTML report and --json show them: per
look, the rows scored, the look's level, each variant's score with its interval at that level, and the claims.

Everything here reads the result's `decide` record (a plain dict, live or stored), never live objects.
"""

from __future__ import annotations

import math
from typing import Any

from rungwise.report.page import esc, pct

_STOPPED = {"resolved": "the verdict resolved", "budget": "the budget ran out", "rows": "the eval file ran out of rows"}


def claim_text(q: dict[str, Any]) -> str:
    """One claim at one look, in words: "fewshot-knn meets the target (p=0.003)", "knn-label vs fewshot: open"."""
    p = f"p={q.get('p_value', 1.0):.2g}"
    answer = q.get("answer")
    if q.get("kind") == "target":
        word = {"meets": "meets the target", "misses": "misses the target"}.get(str(answer), "against the target: open")
        return f"{q.get('variant')} {word} ({p})"
    diff = f"{(q.get('estimate') or 0.0) * 100:+.1f} points"
    word = {"better": "better than", "worse": "worse than"}.get(str(answer), "vs")
    tail = "" if answer in ("better", "worse") else ": open"
    return f"{q.get('variant')} {word} {q.get('other')} ({diff}, {p}){tail}"


def summary_line(record: dict[str, Any]) -> str:
    """What the rule did, in one sentence."""
    looks = record.get("looks") or []
    last = looks[-1] if looks else {}
    why = _STOPPED.get(str(record.get("stopped")), str(record.get("stopped")))
    return (f"decide: {len(looks)} look(s) of at most {len(record.get('schedule') or [])}, rows "
            f"{', '.join(f'{n:,}' for n in record.get('schedule') or [])}; {pct(record.get('alpha'), 0)} over all "
            f"looks ({record.get('spending')}-type spending); stopped at {last.get('rows', 0):,} rows: {why}")


def terminal_rows(record: dict[str, Any]) -> list[list[str]]:
    """Per look: look, rows, level, each variant's score [interval], the claims."""
    out = []
    for look in record.get("looks") or []:
        variants = "; ".join(f"{name} {v.get('score', 0):.1%} [{v.get('low', 0):.1%}, {v.get('high', 1):.1%}] "
                             f"({int(v.get('n', 0)):,} rows)" for name, v in (look.get("variants") or {}).items())
        claims = "; ".join(claim_text(q) for q in look.get("questions") or [])
        out.append([f"{look.get('look')}/{look.get('of')}", f"{look.get('rows', 0):,}", f"{look.get('alpha', 0):.2%}",
                    variants, claims])
    return out


def chart(record: dict[str, Any], target: float) -> str:
    """Each variant's score and interval (at the look's level) against the rows scored (log scale), the target."""
    from rungwise.report.charts import TARGET, svg_frame

    looks = record.get("looks") or []
    names = list(dict.fromkeys(n for look in looks for n in (look.get("variants") or {})))
    if not looks or not names:
        return ""
    rows = [float(look.get("rows") or 1) for look in looks]
    width, height, left, right, top, bottom = 600, 280, 56, 24, 16, 44
    pw, ph = width - left - right, height - top - bottom
    lo_n, hi_n = math.log10(min(rows) / 1.3), math.log10(max(rows) * 1.3)
    xs = lambda n: left + pw * (math.log10(max(n, 1e-9)) - lo_n) / (hi_n - lo_n)  # noqa: E731
    ys = lambda s: top + ph * (1 - max(0.0, min(1.0, s)))  # noqa: E731
    out = ["<g class=\"axis\">"]
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f"<line x1=\"{left}\" x2=\"{width - right}\" y1=\"{ys(t):.1f}\" y2=\"{ys(t):.1f}\" stroke=\"#e3e7ee\"/>"
                   f"<text x=\"{left - 6}\" y=\"{ys(t) + 4:.1f}\" text-anchor=\"end\">{t:.0%}</text>")
    for n in rows:
        out.append(f"<text x=\"{xs(n):.1f}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{n:,.0f}</text>")
    out.append(f"<text x=\"{left + pw / 2:.1f}\" y=\"{height - 6}\" text-anchor=\"middle\">eval rows scored "
               "(log scale)</text></g>")
    colours = ("#7b46b8", "#9aa3b2", "#2f5fb3", "#d07a12")
    for i, name in enumerate(names):
        c = colours[i % len(colours)]
        shift = (i - (len(names) - 1) / 2) * 6
        pts = []
        for look in looks:
            v = (look.get("variants") or {}).get(name)
            if not v:
                continue
            x = xs(float(look.get("rows") or 1)) + shift
            pts.append(f"{x:.1f},{ys(v.get('score', 0)):.1f}")
            out.append(f"<g class=\"look\"><line x1=\"{x:.1f}\" x2=\"{x:.1f}\" y1=\"{ys(v.get('low', 0)):.1f}\" "
                       f"y2=\"{ys(v.get('high', 1)):.1f}\" stroke=\"{c}\" stroke-width=\"2\"/><circle cx=\"{x:.1f}\" "
                       f"cy=\"{ys(v.get('score', 0)):.1f}\" r=\"4\" fill=\"{c}\"><title>{esc(name)}, look "
                       f"{esc(look.get('look'))}: {int(v.get('n', 0)):,} rows, {pct(v.get('score'))} "
                       f"[{pct(v.get('low'))}, {pct(v.get('high'))}]</title></circle></g>")
        if len(pts) > 1:
            out.append(f"<polyline points=\"{' '.join(pts)}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.5\"/>")
        out.append(f"<text x=\"{width - right - 4}\" y=\"{top + 14 + 14 * i}\" text-anchor=\"end\" fill=\"{c}\">"
                   f"{esc(name)}</text>")
    out.append(f"<g class=\"target\"><line x1=\"{left}\" x2=\"{width - right}\" y1=\"{ys(target):.1f}\" "
               f"y2=\"{ys(target):.1f}\" stroke=\"{TARGET}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
               f"<text x=\"{left + 4}\" y=\"{ys(target) - 4:.1f}\" fill=\"{TARGET}\">target {pct(target, 0)}</text></g>")
    return svg_frame(width, height, "chart chart-looks",
                     "The looks of climb --decide: each variant's score and interval against the rows scored", out)


def section(record: dict[str, Any] | None, target: float) -> str:
    """The HTML report's section on the looks (`ClimbRecord.decide`; empty when the climb ran without --decide)."""
    from rungwise.report.page import table

    if not record:
        return ""
    rows = [[esc(c) for c in r] for r in terminal_rows(record)]
    return ("<h2 id=\"decide\">Where the verdict hung: more rows, in looks</h2>"
            f"<p class=\"muted\">{esc(summary_line(record))}. Each look tests the open claims at its own level (the "
            "levels sum to the error allowed over all looks); the intervals are at that level, so they narrow as "
            "rows are added (docs/decide.md).</p>"
            f"<div class=\"grid\"><div>{chart(record, target)}</div><div>"
            + table(["look", "rows", "level", "variants", "claims"], rows, numeric={1, 2}, cls="looks")
            + "</div></div>")
