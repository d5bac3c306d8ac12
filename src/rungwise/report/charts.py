"""The report's charts as inline SVG strings: the ladder (score and interval per variant against the target),
quality against cost with the Pareto frontier, and failures by kind. Every label goes through `esc`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rungwise.report import labels
from rungwise.report.page import esc, pct

RUNG_COLOURS = {"baseline": "#7a8394", "prompt": "#2f5fb3", "fewshot": "#7b46b8", "rag": "#d07a12",
                "finetune": "#138a8a"}
PROBE = "#9aa3b2"
OK, FORMAT, CONTENT, TARGET = "#1f8f4e", "#c7761a", "#c0392b", "#c0392b"


def colour(v: dict[str, Any]) -> str:
    return PROBE if v.get("probe") else RUNG_COLOURS.get(v.get("rung", ""), "#444")


def svg_frame(width: int, height: int, cls: str, title: str, inner: list[str]) -> str:
    return (f"<svg class=\"{cls}\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" "
            f"role=\"img\" aria-label=\"{esc(title)}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{esc(title)}</title>"
            + "".join(inner) + "</svg>")


def ladder(variants: list[dict[str, Any]], target: float, shipped: str | None) -> str:
    """Every variant's score with its 95% interval, the target line, the shipped variant marked, probes apart."""
    rungs = [v for v in variants if not v.get("probe")]
    probes = [v for v in variants if v.get("probe")]
    # the names' column as wide as the widest name (the shipped one in bold); the scores in a column of their own
    names = [labels.text_width(_ladder_name(v, shipped), bold=v["name"] == shipped) for v in variants]
    left, right, top, row, plot = max(120, round(max(names, default=0)) + 20), 56, 26, 24, 530
    width = left + plot + right
    height = top + row * (len(rungs) + len(probes)) + (30 if probes else 0) + 30
    x = lambda s: left + plot * max(0.0, min(1.0, s))  # noqa: E731
    out = ["<g class=\"axis\">"]
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f"<line x1=\"{x(t):.1f}\" x2=\"{x(t):.1f}\" y1=\"{top - 6}\" y2=\"{height - 24}\" stroke=\"#e3e7ee\"/>"
                   f"<text x=\"{x(t):.1f}\" y=\"{height - 8}\" text-anchor=\"middle\">{t:.0%}</text>")
    out.append("</g>")
    y = top
    for group, label in ((rungs, None), (probes, "probes: references, not rungs")):
        if not group:
            continue
        if label:
            y += 8
            out.append(f"<line x1=\"8\" x2=\"{width - right}\" y1=\"{y - 4}\" y2=\"{y - 4}\" stroke=\"#c9cfda\" "
                       f"stroke-dasharray=\"3 3\"/><text class=\"muted\" x=\"8\" y=\"{y + 10}\">{esc(label)}</text>")
            y += 22
        for v in group:
            cy = y + row / 2
            c = colour(v)
            name = _ladder_name(v, shipped)
            weight = " font-weight=\"700\"" if v["name"] == shipped else ""
            out.append(f"<g class=\"variant\" data-variant=\"{esc(v['name'])}\">"
                       f"<text x=\"{left - 10}\" y=\"{cy + 4:.1f}\" text-anchor=\"end\"{weight}>{esc(name)}</text>"
                       f"<line class=\"interval\" x1=\"{x(v.get('low') or 0):.1f}\" x2=\"{x(v.get('high') or 0):.1f}\" "
                       f"y1=\"{cy:.1f}\" y2=\"{cy:.1f}\" stroke=\"{c}\" stroke-width=\"3\" stroke-linecap=\"round\"/>")
            r = 7 if v["name"] == shipped else 5
            fill = "#fff" if v.get("probe") else c
            out.append(f"<circle class=\"point\" cx=\"{x(v.get('score') or 0):.1f}\" cy=\"{cy:.1f}\" r=\"{r}\" "
                       f"fill=\"{fill}\" stroke=\"{OK if v['name'] == shipped else c}\" stroke-width=\"2\">"
                       f"<title>{esc(v['name'])}: {pct(v.get('score'))} [{pct(v.get('low'))}, {pct(v.get('high'))}]"
                       f"</title></circle>")
            out.append(f"<text class=\"muted\" x=\"{width - 4}\" y=\"{cy + 4:.1f}\" text-anchor=\"end\">"
                       f"{pct(v.get('score'))}</text></g>")
            y += row
    tx = x(target)
    out.append(f"<g class=\"target\"><line x1=\"{tx:.1f}\" x2=\"{tx:.1f}\" y1=\"{top - 10}\" y2=\"{height - 24}\" "
               f"stroke=\"{TARGET}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
               f"<text x=\"{tx + 4:.1f}\" y=\"{top - 12}\" fill=\"{TARGET}\">target {pct(target, 0)}</text></g>")
    return svg_frame(width, height, "chart chart-ladder", "Score of every variant with its 95% interval", out)


def _ladder_name(v: dict[str, Any], shipped: str | None) -> str:
    return str(v["name"]) + (" (shipped)" if v["name"] == shipped else "")


def pareto(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points no other point beats on both cost (lower) and score (higher), by increasing cost."""
    frontier: list[tuple[float, float, str]] = []
    for cost, score, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if not frontier or score > frontier[-1][1]:
            frontier.append((cost, score, name))
    return frontier


def _score_cost_axes(width: int, height: int, margins: tuple[int, int, int, int], xmax: float,
                     x_label: str) -> tuple[Callable[[float], float], Callable[[float], float], list[str]]:
    """Scale functions (cost -> x, score -> y) of a score-against-cost chart, and its axes drawn: score gridlines
    at every quarter, five cost ticks (8% headroom past the largest cost) and the cost axis's label."""
    left, right, top, bottom = margins
    pw, ph = width - left - right, height - top - bottom
    xs = lambda c: left + pw * c / (xmax * 1.08)  # noqa: E731
    ys = lambda s: top + ph * (1 - max(0.0, min(1.0, s)))  # noqa: E731
    out = ["<g class=\"axis\">"]
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f"<line x1=\"{left}\" x2=\"{width - right}\" y1=\"{ys(t):.1f}\" y2=\"{ys(t):.1f}\" stroke=\"#e3e7ee\"/>"
                   f"<text x=\"{left - 6}\" y=\"{ys(t) + 4:.1f}\" text-anchor=\"end\">{t:.0%}</text>")
    for k in range(5):
        c = xmax * 1.08 * k / 4
        anchor = "end" if k == 4 else "middle"  # the last tick ends at the plot's edge, inside the chart
        out.append(f"<text x=\"{xs(c):.1f}\" y=\"{height - bottom + 16}\" text-anchor=\"{anchor}\">{esc(_tick(c))}</text>")
    out.append(f"<text x=\"{left + pw / 2:.1f}\" y=\"{height - 6}\" text-anchor=\"middle\">{esc(x_label)}</text></g>")
    return xs, ys, out


def quality_cost(variants: list[dict[str, Any]], *, x_key: str, x_label: str) -> str:
    """Score against cost (or tokens) per call: one point per variant, the Pareto frontier drawn."""
    pts = [(float(xv), float(v.get("score") or 0), v["name"]) for v in variants
           if (xv := _x(v, x_key)) is not None]
    width, height, left, right, top, bottom = 600, 340, 56, 20, 16, 44
    xmax = max((p[0] for p in pts), default=1.0) or 1.0
    xs, ys, out = _score_cost_axes(width, height, (left, right, top, bottom), xmax, x_label)
    front = pareto(pts)
    if len(front) > 1:
        path = " ".join(f"{xs(c):.1f},{ys(s):.1f}" for c, s, _ in front)
        out.append(f"<polyline class=\"frontier\" points=\"{path}\" fill=\"none\" stroke=\"{OK}\" stroke-width=\"2\" "
                   "stroke-dasharray=\"5 3\"/>")
    on_front = {n for _, _, n in front}
    by_name = {v["name"]: v for v in variants}
    groups: dict[tuple[float, float], list[str]] = {}
    for c, s, name in pts:
        v = by_name[name]
        px, py = xs(c), ys(s)
        fill = "#fff" if v.get("probe") else colour(v)
        out.append(f"<g class=\"variant\" data-variant=\"{esc(name)}\"><circle class=\"point\" cx=\"{px:.1f}\" "
                   f"cy=\"{py:.1f}\" r=\"{6 if name in on_front else 4}\" fill=\"{fill}\" stroke=\"{colour(v)}\" "
                   f"stroke-width=\"2\"><title>{esc(name)}: {pct(s)} at {esc(_tick(c))}</title></circle></g>")
        # one label for points that (nearly) coincide, at the first of them
        near = next((k for k in groups if abs(k[0] - px) < 8 and abs(k[1] - py) < 8), (px, py))
        groups.setdefault(near, []).append(name)
    out += point_labels([(px, py, ", ".join(names)) for (px, py), names in groups.items()],
                        labels.Box(left, 0, width - right, height - bottom), avoid=[(xs(c), ys(s)) for c, s, _ in pts])
    return svg_frame(width, height, "chart chart-cost", f"Score against {x_label}; the Pareto frontier dashed", out)


def point_labels(points: list[tuple[float, float, str]], bounds: labels.Box,
                 avoid: list[tuple[float, float]]) -> list[str]:
    """Labels for (x, y, text) points where none overlaps another or a point (`rungwise.report.labels`); a label
    moved away from its point is joined to it by a thin line."""
    out = []
    for label in labels.place(points, bounds, avoid=avoid):
        if label.leader:
            edge = label.box.x0 if label.anchor == "start" else label.box.x1
            out.append(f"<line class=\"leader\" x1=\"{label.px:.1f}\" y1=\"{label.py:.1f}\" x2=\"{edge:.1f}\" "
                       f"y2=\"{label.y - 4:.1f}\" stroke=\"#9aa3b2\" stroke-width=\"1\"/>")
        out.append(f"<text class=\"label\" x=\"{label.x:.1f}\" y=\"{label.y:.1f}\" text-anchor=\"{label.anchor}\">"
                   f"{esc(label.text)}</text>")
    return out


def _x(v: dict[str, Any], key: str) -> float | None:
    if key == "cost_per_call":
        return (v.get("cost") or {}).get("cost_per_call")
    value = v.get(key)
    return float(value) if isinstance(value, (int, float)) else None


def _tick(c: float) -> str:
    if c == 0:
        return "0"
    if c >= 100:
        return f"{c:,.0f}"
    if c >= 1:
        return f"{c:.1f}"
    return f"{c:.2g}"


def failures(variants: list[dict[str, Any]]) -> str:
    """A stacked bar per variant: right, format failures, content failures (shares of the rows scored)."""
    left, width, row, top = 200, 760, 22, 30
    plot = width - left - 70
    height = top + row * len(variants) + 10
    out = [f"<g class=\"legend\"><rect x=\"{left}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{OK}\"/>"
           f"<text x=\"{left + 16}\" y=\"16\">right</text><rect x=\"{left + 70}\" y=\"6\" width=\"12\" height=\"12\" "
           f"fill=\"{FORMAT}\"/><text x=\"{left + 86}\" y=\"16\">format failure</text><rect x=\"{left + 196}\" y=\"6\" "
           f"width=\"12\" height=\"12\" fill=\"{CONTENT}\"/><text x=\"{left + 212}\" y=\"16\">content failure</text></g>"]
    for k, v in enumerate(variants):
        n = int(v.get("n") or 0)
        fmt, con = int(v.get("format_failures") or 0), int(v.get("content_failures") or 0)
        right_ = max(0, n - fmt - con)
        y = top + k * row
        out.append(f"<g class=\"variant\" data-variant=\"{esc(v['name'])}\"><text x=\"{left - 10}\" y=\"{y + 14}\" "
                   f"text-anchor=\"end\">{esc(v['name'])}</text>")
        x0 = float(left)
        for count, fill, what in ((right_, OK, "right"), (fmt, FORMAT, "format"), (con, CONTENT, "content")):
            w = plot * count / n if n else 0
            if w > 0:
                out.append(f"<rect class=\"bar {what}\" x=\"{x0:.1f}\" y=\"{y + 3}\" width=\"{w:.1f}\" height=\"{row - 6}\" "
                           f"fill=\"{fill}\"><title>{esc(v['name'])}: {count} of {n} {what}</title></rect>")
            x0 += w
        out.append(f"<text class=\"muted\" x=\"{left + plot + 8}\" y=\"{y + 14}\">{fmt} / {con}</text></g>")
    return svg_frame(width, height, "chart chart-failures", "Failures by kind per variant", out)


def learning_curve(curve: dict[str, Any]) -> str:
    """Score against rows (training rows, or the few-shot pool's; log scale): the measured points with their 95% intervals, the fitted curve
    (solid over the data, dashed beyond it), its 95% band out to 10x the data, and the target line."""
    sizes = [float(s) for s in curve.get("sizes") or []]
    band_n = [float(s) for s in curve.get("band_sizes") or []]
    if not sizes:
        return ""
    width, height, left, right, top, bottom = 600, 300, 56, 24, 16, 44
    pw, ph = width - left - right, height - top - bottom
    lo_n, hi_n = math.log10(min(sizes) / 1.5), math.log10(max([*sizes, *band_n]) * 1.2)
    xs = lambda n: left + pw * (math.log10(max(n, 1e-9)) - lo_n) / (hi_n - lo_n)  # noqa: E731
    ys = lambda s: top + ph * (1 - max(0.0, min(1.0, s)))  # noqa: E731
    out = ["<g class=\"axis\">"]
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f"<line x1=\"{left}\" x2=\"{width - right}\" y1=\"{ys(t):.1f}\" y2=\"{ys(t):.1f}\" stroke=\"#e3e7ee\"/>"
                   f"<text x=\"{left - 6}\" y=\"{ys(t) + 4:.1f}\" text-anchor=\"end\">{t:.0%}</text>")
    decade = 10 ** math.floor(lo_n)
    while decade <= 10 ** hi_n:
        for m in (1, 3):
            n = decade * m
            if lo_n <= math.log10(n) <= hi_n:
                out.append(f"<line x1=\"{xs(n):.1f}\" x2=\"{xs(n):.1f}\" y1=\"{top}\" y2=\"{top + ph}\" stroke=\"#eef1f5\"/>"
                           f"<text x=\"{xs(n):.1f}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{n:,.0f}</text>")
        decade *= 10
    what = "training rows" if curve.get("kind") == "training" else "rows in the pool"
    out.append(f"<text x=\"{left + pw / 2:.1f}\" y=\"{height - 6}\" text-anchor=\"middle\">{what} "
               "(log scale)</text></g>")
    colour_ = RUNG_COLOURS.get("finetune" if curve.get("kind") == "training" else "fewshot", "#444")
    low, high, mid = curve.get("band_low") or [], curve.get("band_high") or [], curve.get("band_mid") or []
    if band_n and len(low) == len(high) == len(mid) == len(band_n):
        poly = [f"{xs(n):.1f},{ys(v):.1f}" for n, v in zip(band_n, high, strict=True)]
        poly += [f"{xs(n):.1f},{ys(v):.1f}" for n, v in reversed(list(zip(band_n, low, strict=True)))]
        out.append(f"<polygon class=\"band\" points=\"{' '.join(poly)}\" fill=\"{colour_}\" fill-opacity=\"0.12\" "
                   "stroke=\"none\"><title>the fit's 95% band (paired bootstrap over the eval rows)</title></polygon>")
        inside = [(n, v) for n, v in zip(band_n, mid, strict=True) if n <= max(sizes)]
        beyond = [(n, v) for n, v in zip(band_n, mid, strict=True) if n >= max(sizes)]
        for part, dash in ((inside, ""), (beyond, " stroke-dasharray=\"6 4\"")):
            if len(part) > 1:
                pts = " ".join(f"{xs(n):.1f},{ys(v):.1f}" for n, v in part)
                out.append(f"<polyline class=\"fit\" points=\"{pts}\" fill=\"none\" stroke=\"{colour_}\" "
                           f"stroke-width=\"2\"{dash}/>")
    for n, s, lo, hi in zip(sizes, curve.get("scores") or [], curve.get("lows") or [], curve.get("highs") or [],
                            strict=False):
        out.append(f"<g class=\"point\"><line x1=\"{xs(n):.1f}\" x2=\"{xs(n):.1f}\" y1=\"{ys(lo):.1f}\" y2=\"{ys(hi):.1f}\" "
                   f"stroke=\"{colour_}\" stroke-width=\"2\"/><circle cx=\"{xs(n):.1f}\" cy=\"{ys(s):.1f}\" r=\"5\" "
                   f"fill=\"{colour_}\"><title>{n:,.0f} rows: {pct(s)} [{pct(lo)}, {pct(hi)}]</title></circle></g>")
    target = float(curve.get("target") or 0)
    out.append(f"<g class=\"target\"><line x1=\"{left}\" x2=\"{width - right}\" y1=\"{ys(target):.1f}\" "
               f"y2=\"{ys(target):.1f}\" stroke=\"{TARGET}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
               f"<text x=\"{left + 4}\" y=\"{ys(target) - 4:.1f}\" fill=\"{TARGET}\">target {pct(target, 0)}</text></g>")
    rows = curve.get("rows")
    if isinstance(rows, (int, float)) and rows > 0 and lo_n <= math.log10(rows) <= hi_n:
        out.append(f"<line class=\"needed\" x1=\"{xs(rows):.1f}\" x2=\"{xs(rows):.1f}\" y1=\"{ys(target):.1f}\" "
                   f"y2=\"{top + ph}\" stroke=\"{TARGET}\" stroke-dasharray=\"2 3\"/>")
    name = str(curve.get("name") or "")
    return svg_frame(width, height, "chart chart-curve",
                     f"Learning curve of {name}: score against training rows, the target, the extrapolation", out)


#: one colour per model on the frontier chart (in the order the models were given)
MODEL_COLOURS = ("#2f5fb3", "#d07a12", "#138a8a", "#7b46b8", "#c0392b", "#5a7d1a", "#7a8394", "#b8468f")


def frontier(points: list[dict[str, Any]], front: list[str], target: float, *, x_label: str,
             x_key: str = "cost_per_call", recommended: str | None = None) -> str:
    """Score against cost (or tokens) per call across models: a colour per model, the non-dominated points
    (`front`, keys `model / variant` by increasing cost) joined, the target as a dashed line, the recommended
    point ringed. Model and variant names come from servers and task files: every label goes through `esc`."""
    key = lambda p: f"{p['model']} / {p['variant']}"  # noqa: E731
    xv = lambda p: float(p.get(x_key) or 0.0)  # noqa: E731
    models = list(dict.fromkeys(str(p["model"]) for p in points))
    tint = {m: MODEL_COLOURS[i % len(MODEL_COLOURS)] for i, m in enumerate(models)}
    width, height, left, right, top, bottom = 640, 360, 56, 20, 16, 44
    legend_h = 18 * len(models)
    xmax = max((xv(p) for p in points), default=1.0) or 1.0
    xs, ys, out = _score_cost_axes(width, height, (left, right, top, bottom), xmax, x_label)
    out.append(f"<g class=\"target\"><line x1=\"{left}\" x2=\"{width - right}\" y1=\"{ys(target):.1f}\" "
               f"y2=\"{ys(target):.1f}\" stroke=\"{TARGET}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
               f"<text x=\"{width - right - 4}\" y=\"{ys(target) - 5:.1f}\" text-anchor=\"end\" fill=\"{TARGET}\">"
               f"target {pct(target, 0)}</text></g>")
    by_key = {key(p): p for p in points}
    line = [by_key[k] for k in front if k in by_key]
    if len(line) > 1:
        path = " ".join(f"{xs(xv(p)):.1f},{ys(float(p.get('score') or 0)):.1f}" for p in line)
        out.append(f"<polyline class=\"frontier\" points=\"{path}\" fill=\"none\" stroke=\"{OK}\" stroke-width=\"2\" "
                   "stroke-dasharray=\"5 3\"/>")
    on = set(front)
    named: list[tuple[float, float, str]] = []
    for p in points:
        px, py, k = xs(xv(p)), ys(float(p.get("score") or 0)), key(p)
        ring = (f"<circle class=\"recommended\" cx=\"{px:.1f}\" cy=\"{py:.1f}\" r=\"10\" fill=\"none\" stroke=\"{OK}\" "
                "stroke-width=\"2\"/>" if k == recommended else "")
        out.append(f"<g class=\"point-group\" data-model=\"{esc(p['model'])}\" data-variant=\"{esc(p['variant'])}\">{ring}"
                   f"<circle class=\"point{' on-frontier' if k in on else ''}\" cx=\"{px:.1f}\" cy=\"{py:.1f}\" "
                   f"r=\"{6 if k in on else 4}\" fill=\"{tint[str(p['model'])] if k in on else '#fff'}\" "
                   f"stroke=\"{tint[str(p['model'])]}\" stroke-width=\"2\"><title>{esc(k)}: {pct(p.get('score'))} at "
                   f"{esc(_tick(xv(p)))}</title></circle></g>")
        if k in on:
            named.append((px, py, str(p["variant"])))
    out += point_labels(named, labels.Box(left, 0, width - right, height - bottom),
                        avoid=[(xs(xv(p)), ys(float(p.get("score") or 0))) for p in points])
    for i, m in enumerate(models):
        y = height + 14 + 18 * i
        out.append(f"<g class=\"legend\"><circle cx=\"{left + 6}\" cy=\"{y - 4}\" r=\"5\" fill=\"{tint[m]}\"/>"
                   f"<text x=\"{left + 16}\" y=\"{y}\">{esc(m)}</text></g>")
    return svg_frame(width, height + legend_h + 8, "chart chart-frontier",
                     f"Score against {x_label} across models; the Pareto frontier dashed", out)
