"""The climb report as one self-contained HTML file, rendered from a stored `ClimbReport` (never live objects).

Sections: the verdict; the ladder chart; quality against cost; the frontier across models (a multi-model
climb); the diagnosis; fine-tuning's bill; every eval row
(filters and paging, in the page's script); the checks and the run's metadata.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rungwise.judge.early_stop import EarlyStop
from rungwise.judge.stats import describe_detectable
from rungwise.record.schema import ComparisonRecord, VariantRecord
from rungwise.record.stored import ClimbReport
from rungwise.report import charts
from rungwise.report.figures import trained_with
from rungwise.report.frontier_html import frontier_section
from rungwise.report.looks import section as looks_section
from rungwise.report.page import esc, money, num, page, pct, table, write_page
from rungwise.store import Store


def render_climb(report: ClimbReport) -> str:
    """The report page of one climb, as a string."""
    d = report.result
    variants = d.variants
    drawn = [v.model_dump() for v in variants]  # the charts draw plain data
    body = [
        _header(report),
        _verdict(report),
        "<h2 id=\"ladder\">The ladder</h2>",
        "<p class=\"muted\">Each variant's score on the eval rows (a variant stopped early: on the rows it scored), "
        "with its 95% interval; the dashed line is "
        "the target. Probes (references that are not rungs) are drawn apart, hollow.</p>" if variants else "",
        charts.ladder(drawn, d.target, d.shipped) if variants else "<p>No variant ran.</p>",
        _stopped(variants),
        looks_section(d.decide, d.target),
        _cost_section(report, variants),
        frontier_section(d.frontier or {}),
        _diagnosis(report, variants),
        _prompt_search(report),
        _finetune(report),
        _curves(report),
        _distill(report),
        _rows_section(report),
        _checks(report),
        _metadata(report),
        "<footer>Written by rungwise from the stored record of run " + esc(report.run.id) + " (record version "
        f"{report.version}). One file: it needs no network.</footer>",
    ]
    return page(f"rungwise: {report.run.task} ({report.run.id})", "\n".join(b for b in body if b), _data(report))


def write_climb(report: ClimbReport, path: str | Path) -> Path:
    """Write the report page to `path` (folders are created)."""
    return write_page(render_climb(report), path)


def write_run_report(store: Store, run_id: str, path: str | Path) -> Path:
    """Load the stored record of `run_id` and write its report page."""
    from rungwise.record.stored import load_report

    return write_climb(load_report(store, run_id), path)


def _data(report: ClimbReport) -> dict[str, Any]:
    names = list(report.variants)
    return {
        "kind": "climb",
        "binary": _binary(report),
        "variants": [{"name": n, "rung": v.rung if v else "", "probe": bool(v and v.probe)}
                     for n in names for v in [report.result.variant(n)]],
        "ids": [r.id for r in report.rows],
        "inputs": [r.input for r in report.rows],
        "targets": [r.target for r in report.rows],
        "out": [report.variants[n].output for n in names],
        "score": [[None if s is None else round(s, 4) for s in report.variants[n].score] for n in names],
        "fail": [report.variants[n].failure for n in names],
    }


def _stopped(variants: list[VariantRecord]) -> str:
    """The variants stopped at an early-stop look, and why they have fewer rows than the eval set."""
    items = "".join(f"<li><code>{esc(v.name)}</code> {esc(EarlyStop.from_dict(v.stopped).sentence())}</li>"
                    for v in variants if v.stopped)
    return ("<p class=\"muted\">Stopped early: these variants could not reach the target, so scoring them on every "
            f"row would change no decision (climb with --score-every-row to score them all).</p><ul>{items}</ul>"
            if items else "")


def _binary(report: ClimbReport) -> bool:
    methods = {v.method for v in report.result.variants}
    return bool(methods) and methods <= {"wilson"}


def _when(ts: float | None) -> str:
    return "n/a" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _header(report: ClimbReport) -> str:
    d = report.result
    notes = "".join(f"<p class=\"note\">{esc(n)}</p>" for n in report.notes)
    return (f"<h1>{esc(report.run.task)}: which rung to ship</h1><p class=\"sub\">{esc(d.metric)} on "
            f"{esc(d.n_eval)} eval rows &middot; target {pct(d.target, 0)} &middot; model "
            f"<code>{esc(report.run.served_model or report.run.model)}</code> &middot; run <code>{esc(report.run.id)}"
            f"</code> &middot; {_when(report.run.finished_at or report.run.created_at)}</p>{notes}")


def _verdict(report: ClimbReport) -> str:
    d = report.result
    shipped = d.shipped
    by_name = {v.name: v for v in d.variants}
    decision = d.decision
    if shipped and shipped in by_name:
        v = by_name[shipped]
        head = (f"<div class=\"big\">Ship <code>{esc(shipped)}</code> ({esc(v.rung)} rung): "
                f"{pct(v.score)} <span class=\"muted\">[{pct(v.low)}, {pct(v.high)}]</span> "
                f"against a target of {pct(d.target, 0)}</div>")
        cls = "ok"
    elif by_name:
        best = max((v for v in by_name.values() if not v.probe), key=lambda v: v.score or 0,
                   default=next(iter(by_name.values())))
        head = (f"<div class=\"big\">No rung meets the target of {pct(d.target, 0)}: the best is "
                f"<code>{esc(best.name)}</code> at {pct(best.score)} "
                f"<span class=\"muted\">[{pct(best.low)}, {pct(best.high)}]</span></div>")
        cls = "miss"
    else:
        head, cls = "<div class=\"big\">No variant ran.</div>", "miss"
    text = d.recommendation
    # the headline already says what the first sentence says when nothing meets the target
    reasons = [("<li class=\"warn\">" if any(w in s for w in _WARN) else "<li>") + esc(s) + "</li>"
               for s in _sentences(text) if not s.startswith("No rung meets the target")]
    cheaper = decision.diagnosis.cheaper_reference if decision else None
    if cheaper and cheaper not in text:
        reasons.append(f"<li class=\"warn\">{esc(cheaper)}</li>")
    if decision and decision.eval_too_small and "too small" not in text and not decision.next_step:
        mdd = decision.minimum_detectable_difference
        reasons.append(f"<li class=\"warn\">The eval is too small to decide: the smallest difference it detects is "
                       f"{esc(describe_detectable(mdd))}. Score more rows (climb --full) before shipping.</li>")
    for name, why in d.skipped.items():
        reasons.append(f"<li class=\"muted\">skipped {esc(name)}: {esc(why)}</li>")
    return f"<section class=\"verdict {cls}\" id=\"verdict\">{head}<ul>{''.join(reasons)}</ul></section>"


#: sentences of the recommendation that a reader must not miss
_WARN = ("too small to decide", "no better than the label of the nearest", "The verdict is still open",
         "not yet a measurable difference", "not yet significant")


def _sentences(text: str) -> list[str]:
    out, buf = [], ""
    for part in text.replace(". ", ".\u0000").split("\u0000"):
        buf += part
        if buf.rstrip().endswith(".") and not buf.rstrip().endswith(("e.g.", "vs.")):
            out.append(buf.strip())
            buf = ""
        else:
            buf += " "
    if buf.strip():
        out.append(buf.strip())
    return out


def _cost_section(report: ClimbReport, variants: list[VariantRecord]) -> str:
    if not variants:
        return ""
    priced = any(v.cost and v.cost.cost_per_call for v in variants)
    currency = report.result.currency
    key, label = ("cost_per_call", f"cost per call ({currency})") if priced else ("mean_prompt_tokens", "prompt tokens per call")
    note = "" if priced else ("<p class=\"muted\">The task sets no token prices, so the chart places variants by "
                              "prompt tokens per call. Set [costs] in task.toml to see money.</p>")
    rows = []
    for v in variants:
        mark = "distilled" if v.purpose == "distilled" else "probe"
        rows.append([esc(v.name) + (f" <span class=\"muted\">({mark})</span>" if v.probe else ""),
                     pct(v.score) + (f" <span class=\"muted\">({esc(v.n)} rows)</span>" if v.stopped else ""),
                     num(v.mean_prompt_tokens, 0), num(v.mean_completion_tokens, 1),
                     num(v.latency_p50_s), num(v.latency_p95_s), money(v.cost.cost_per_call if v.cost else None),
                     money(v.cost.cost_per_month if v.cost else None)])
    tbl = table(["variant", "score", "prompt tok", "compl tok", "p50 s", "p95 s", f"{esc(currency)}/call",
                 f"{esc(currency)}/month"], rows, numeric={1, 2, 3, 4, 5, 6, 7}, cls="costs")
    return (f"<h2 id=\"cost\">Quality against cost</h2>{note}<div class=\"grid\"><div>"
            f"{charts.quality_cost([v.model_dump() for v in variants], x_key=key, x_label=label)}<p class=\"muted\">Filled large points lie on "
            f"the Pareto frontier (no other variant is both cheaper and better).</p></div><div>{tbl}</div></div>")


def _diagnosis(report: ClimbReport, variants: list[VariantRecord]) -> str:
    if not variants:
        return ""
    decision = report.result.decision
    dg = decision.diagnosis if decision else None
    words = []
    if dg is None:
        pass
    elif dg.knowledge_gap is True:
        words.append("A <b>knowledge gap</b>: context (retrieval or the oracle) measurably lifts the score. Improve the "
                     "corpus and retrieval before any fine-tune.")
    elif dg.knowledge_gap is False:
        words.append("No knowledge gap shows: context does not measurably lift the score.")
    if dg is not None and dg.behavioural_gap:
        words.append(f"A <b>behavioural gap</b>: {pct(dg.format_share, 0)} of the remaining failures are format "
                     "failures, which constrained output or a fine-tune addresses.")
    elif dg is not None and dg.format_share is not None:
        words.append(f"{pct(dg.format_share, 0)} of the remaining failures are format failures; the rest are content.")
    notes = "".join(f"<li>{esc(n)}</li>" for n in (dg.notes if dg else []))
    rag = [v for v in variants if v.rung == "rag" or v.name == "oracle"]
    rag_html = ""
    if rag:
        keys = sorted({k for v in rag for k in v.extras})
        comps = {(c.a, c.b): c for c in (decision.comparisons if decision else [])}
        rows = []
        for v in rag:
            vs = next((c for (a, b), c in comps.items() if b == v.name), None)
            rows.append([esc(v.name), f"{pct(v.score)} [{pct(v.low)}, {pct(v.high)}]"]
                        + [pct(v.extras.get(k)) for k in keys] + [_versus(vs)])
        rag_html = ("<h3>Retrieval against the oracle</h3>" + table(
            ["variant", "score [95% CI]", *(esc(k) for k in keys), "paired difference"], rows,
            numeric=set(range(2, 2 + len(keys))), cls="rag"))
    return (f"<h2 id=\"diagnosis\">Diagnosis</h2><p>{' '.join(words)}</p><ul>{notes}</ul>"
            f"{charts.failures([v.model_dump() for v in variants])}{rag_html}")


def _versus(c: ComparisonRecord | None) -> str:
    if c is None or c.difference is None:
        return ""
    p = "n/a" if c.p_value is None else f"{c.p_value:.3g}"
    return f"{c.difference * 100:+.1f} vs {esc(c.a)} (p={p})"


def _prompt_search(report: ClimbReport) -> str:
    """The prompt search: what it found, what it spent, and every candidate with its dev score."""
    found = {n: s for n, s in report.result.prompt_search.items() if not s.planned}
    if not found:
        return ""
    currency = esc(report.result.currency)
    parts = ["<h2 id=\"prompt-search\">Prompt search</h2><p class=\"muted\">The task line searched for on dev rows "
             "carved from train (never an eval row); the winner is scored on the eval like every rung. The rungs above "
             "build on it only when its dev gain is significant (dev p: a one-sided sign test, adjusted for the candidates "
             "it was picked from, below 0.05). Its cost "
             "is paid once, like fine-tuning's training.</p>"]
    rows = []
    for name, s in found.items():
        tokens = sum(float(d.get("prompt_tokens", 0)) + float(d.get("completion_tokens", 0))
                     for d in (s.task_model, s.proposer_calls))
        p = "-" if s.dev_p is None else f"{s.dev_p:.2g}"
        rows.append([esc(name), pct(s.dev_before), pct(s.dev_after), p, f"{s.metric_calls:,} / {s.budget:,}",
                     esc(s.proposals), num(tokens, 0), num(s.seconds, 0),
                     f"{money(s.cost)} {currency}".strip(), "yes" if s.stacked else "no", esc(s.proposer)])
    parts.append(table(["variant", "dev before", "dev after", "dev p", "metric calls", "proposals", "tokens",
                        "seconds", "one-off cost", "stacked", "proposer"], rows, numeric={1, 2, 3, 5, 6, 7, 8},
                       cls="search"))
    for name, s in found.items():
        cands = [[esc(c.get("index")), esc(c.get("origin")), pct(c.get("dev_score")),
                  f"<pre class=\"instruction\">{esc(c.get('instruction'))}</pre>"] for c in s.candidates]
        parts.append(f"<h3>{esc(name)}: candidates</h3>"
                     + table(["#", "origin", "dev score", "instruction"], cands, numeric={2}, cls="candidates"))
    return "".join(parts)


def _finetune(report: ClimbReport) -> str:
    costs = report.result.finetune_costs
    adapters = report.artifacts
    if not costs and not adapters:
        return ""
    parts = ["<h2 id=\"finetune\">Fine-tuning's bill</h2><p class=\"muted\">Fixed costs amortised over 12 months; "
             "retraining at each base-model update; the eval runs that keep it honest.</p>"]
    if costs:
        rows = [[esc(name), money(c.dataset), money(c.training), money(c.retraining_per_year),
                 money(c.eval_runs_per_month), money(c.fixed_per_month), money(c.calls_per_month),
                 money(c.total_per_month),
                 ("never" if c.break_even_calls_per_month is None else num(c.break_even_calls_per_month, 0))
                 + (f" <span class=\"muted\">vs {esc(c.reference)}</span>" if c.reference else "")]
                for name, c in costs.items()]
        parts.append(table(["variant", "dataset", "training", "retraining / year", "eval runs / month",
                            "fixed / month", "calls / month", "total / month", "break-even calls / month"], rows,
                           numeric=set(range(1, 9)), cls="ftcost"))
    if adapters:
        rows = []
        for a in adapters:
            m = a.meta
            stale = ("<span class=\"stale\">stale: trained on another base model; retrain it</span>" if a.stale
                     else "current" if a.stale is False else "unknown")
            rows.append([esc(a.name), esc(trained_with(m)), esc(m.get("base_model")), stale,
                         num(m.get("train_seconds"), 0),
                         esc(m.get("examples")), esc(m.get("steps")), num(m.get("train_loss"), 3),
                         num(m.get("val_loss"), 3), esc(m.get("stop_reason")), esc(m.get("trained_at"))])
        parts.append("<h3>Adapters</h3>" + table(
            ["adapter", "trained with", "base model", "base now", "train s", "examples", "steps", "train loss",
             "val loss", "stopped", "trained at"], rows, numeric={4, 5, 6, 7, 8}, cls="adapters"))
    return "".join(parts)


def _curves(report: ClimbReport) -> str:
    """Each learning curve: its chart, the rows the target needs (or why no amount will do), its points, and the
    honest check of its extrapolation."""
    curves = report.result.curves
    if not curves:
        return ""
    parts = ["<h2 id=\"curves\">What more data would buy</h2><p class=\"muted\">Each variant scored with smaller "
             "pools (each a seeded subset of the next) on the same eval rows; the curve is an inverse power law "
             "<code>a - b&middot;n<sup>-c</sup></code>, its band from resampling the eval rows, drawn to 10x the "
             "data (docs/curves.md).</p>"]
    for c in curves:
        rows = [[num(n, 0), f"{pct(s)} [{pct(lo)}, {pct(hi)}]", esc(v)] for n, s, lo, hi, v in
                zip(c.get("sizes") or [], c.get("scores") or [], c.get("lows") or [], c.get("highs") or [],
                    c.get("variants") or [], strict=False)]
        check = c.get("check") or {}
        honest = ""
        if check:
            honest = (f"<p class=\"muted\">Checked: fitted on {esc(', '.join(f'{n:,}' for n in check.get('fitted_on') or []))} "
                      f"rows, the curve predicted {pct(check.get('predicted'))} at {num(check.get('size'), 0)} rows; "
                      f"measured {pct(check.get('measured'))} (off by {(check.get('error') or 0) * 100:+.1f} points).</p>")
        parts.append(f"<h3>{esc(c.get('name'))}</h3><p>{esc(c.get('sentence'))}</p><div class=\"grid\"><div>"
                     f"{charts.learning_curve(c)}</div><div>"
                     + table(["rows", "score [95% CI]", "variant"], rows, numeric={0}, cls="curve") + honest
                     + "</div></div>")
    return "".join(parts)


def _distill(report: ClimbReport) -> str:
    """The distillation a run carries: the student against the teacher and the human-label fine-tune, the
    teacher's labels against human ones, and the savings per call and per month."""
    from rungwise.judge.distillation import distill_sentences

    d: dict[str, Any] = report.result.distill or {}
    if not d:
        return ""
    cur = esc(d.get("currency"))
    scores = d.get("scores") or {}
    teacher, student, human = str(d.get("teacher")), str(d.get("student")), str(d.get("human"))
    pc, pm, lab = d.get("per_call") or {}, d.get("per_month") or {}, d.get("labelling") or {}
    trained = d.get("trained_examples") or {}
    hv = report.result.variant(human)
    hc = hv.cost if hv else None

    def vs(c: dict[str, Any] | None) -> str:
        return "" if not c else (f"{c['difference'] * 100:+.1f} points [{c['low'] * 100:+.1f}, {c['high'] * 100:+.1f}], "
                                 f"p={c['p_value']:.2g}")

    rows = [
        [esc(teacher) + " <span class=\"muted\">(teacher)</span>", pct(scores.get(teacher)), "",
         num(pc.get("teacher_prompt_tokens"), 0), money(pc.get("teacher")), money(pm.get("teacher")), "", ""],
        [esc(student), pct(scores.get(student)), esc(vs(d.get("vs_teacher"))), num(pc.get("student_prompt_tokens"), 0),
         money(pc.get("student")), money(pm.get("student")), esc(trained.get(student)),
         f"{money(lab.get('cost'))} (teacher)"],
        [esc(human) + " <span class=\"muted\">(human labels)</span>", pct(scores.get(human)), "",
         num(hv.mean_prompt_tokens if hv else None, 0), money(hc.cost_per_call if hc else None),
         money(hc.cost_per_month if hc else None),
         esc(trained.get(human)), money(d.get("human_labelling_cost"))],
    ]
    tbl = table(["variant", "score", "vs teacher", "prompt tok", f"{cur}/call", f"{cur}/month", "trained on",
                 f"labels ({cur})"], rows, numeric={1, 3, 4, 5, 6, 7}, cls="distill")
    items = "".join(f"<li>{esc(line)}</li>" for line in distill_sentences(d))
    return (f"<h2 id=\"distill\">Distillation: {esc(teacher)} taught the short prompt</h2>"
            f"<p class=\"muted\">The teacher labelled inputs nobody labelled (never an eval input nor a near twin of "
            f"one; its format failures dropped); the student is the fine-tune with the short prompt, scored on the "
            f"same eval rows. Labelling run <code>{esc(d.get('labels_run_id'))}</code>.</p><ul>{items}</ul>{tbl}")


def _rows_section(report: ClimbReport) -> str:
    return (
        "<h2 id=\"rows-section\">Every eval row</h2>"
        "<div class=\"controls\">"
        "<label>search <input type=\"search\" id=\"q\" placeholder=\"input, expected or output\"></label>"
        "<label>show <select id=\"kind\"><option value=\"\">every row</option><option value=\"fail\">failures only"
        "</option><option value=\"format\">format failures</option><option value=\"content\">content failures</option>"
        "<option value=\"right\">right answers</option></select></label>"
        "<label>of <select id=\"variant\"></select></label>"
        "<label>right in <select id=\"va\"></select></label><label>wrong in <select id=\"vb\"></select></label>"
        "<button type=\"button\" id=\"reset\">reset</button></div>"
        "<div class=\"scroll\"><table id=\"rows\"><thead><tr id=\"rows-head\"></tr></thead><tbody id=\"rows-body\">"
        "</tbody></table></div>"
        "<div class=\"pager\"><button type=\"button\" id=\"prev\">previous</button><span id=\"page-info\"></span>"
        "<button type=\"button\" id=\"next\">next</button></div>"
    )


def _checks(report: ClimbReport) -> str:
    findings = report.result.checks.findings if report.result.checks else []
    if not findings:
        return "<h2 id=\"checks\">Dataset checks</h2><p>No finding.</p>"
    cls = {"error": "bad", "warning": "warn", "info": "muted"}
    rows = [[f"<span class=\"{cls.get(f.severity, '')}\">{esc(f.severity)}</span>", esc(f.code),
             esc(f.message), esc(", ".join(f.rows))] for f in findings]
    return "<h2 id=\"checks\">Dataset checks</h2>" + table(["severity", "check", "finding", "rows"], rows, cls="checks")


def _metadata(report: ClimbReport) -> str:
    r, d = report.run, report.result
    budget = d.budget
    items = [
        ("run", r.id), ("status", r.status), ("task", r.task), ("task hash", r.task_hash),
        ("model fingerprint", r.model), ("served model", r.served_model or "not recorded"),
        ("rungwise version", r.rungwise_version or "older than report records"),
        ("started", _when(r.created_at)), ("finished", _when(r.finished_at)),
        ("model calls", d.calls), ("answers from cache", d.cache_hits),
        ("results kept from an interrupted run", d.resumed),
        ("generation budget", f"{budget.max_tokens} tokens ({budget.reason})"),
        ("settings", ", ".join(f"{k}={v}" for k, v in sorted(r.settings.items()))),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f"<h2 id=\"run\">The run</h2><dl class=\"meta\">{dl}</dl>"
