"""The judgement: is each rung measurably better than the one below, where does the remaining gap come from
(format or content; knowledge or behaviour), and which rung to ship, in words grounded in the numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rungwise.judge import stats
from rungwise.judge.curves import LearningCurve
from rungwise.judge.summary import VariantSummary
from rungwise.rungs import registered, rung_kind

Verdict = Literal["first", "gain", "no measurable gain", "worse"]


def kind_of(s: VariantSummary) -> str:
    """What a variant's rung is for: its recorded kind, else its registered rung's."""
    return s.kind or rung_kind(s.rung) or ""


def ladder_order(summaries: Sequence[VariantSummary]) -> list[str]:
    """The rungs that ran, in ladder order (the registry's; a rung no longer registered goes last)."""
    order = {cls.name: i for i, cls in enumerate(registered())}
    ran = list(dict.fromkeys(s.rung for s in summaries))
    return sorted(ran, key=lambda r: (order.get(r, len(order)), ran.index(r)))


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    difference: float
    low: float
    high: float
    p_value: float
    method: str
    significant: bool
    #: the rows compared: those both variants scored (fewer than the eval set's when one stopped early)
    n: int = 0

    @classmethod
    def of(cls, a: str, b: str, test: stats.PairedTest) -> Comparison:
        return cls(a, b, test.difference, test.low, test.high, test.p_value, test.method, test.significant(), test.n)


@dataclass(frozen=True)
class RungVerdict:
    rung: str
    best: str
    score: float
    meets_target: bool
    verdict: Verdict
    against: Comparison | None


@dataclass
class Diagnosis:
    #: of the remaining failures of the best shippable variant, the share that are format failures
    format_share: float
    knowledge_gap: bool | None
    behavioural_gap: bool
    notes: list[str] = field(default_factory=list)
    #: set when a no-LLM reference (the nearest train row's label) does as well as the few-shot rung
    cheaper_reference: str | None = None
    #: set when a fine-tune that reads the retrieved passages beats retrieval alone: behaviour on top of knowledge
    behaviour_over_retrieval: str | None = None


@dataclass
class Decision:
    shipped: str | None
    rungs: list[RungVerdict]
    diagnosis: Diagnosis
    eval_too_small: bool
    minimum_detectable_difference: float
    recommendation: str
    comparisons: list[Comparison] = field(default_factory=list)
    #: when the verdict ships the no-LLM reference: the best LLM rung, the alternative
    alternative: str | None = None
    #: when the verdict is open: the rows that would likely settle it, their cost and the command (`_next_step`)
    next_step: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: per variant, its score on each eval row it scored, by row id
RowScores = Mapping[str, Mapping[str, float]]


def _compare(scores: RowScores, a: str, b: str) -> Comparison:
    """b against a on the rows both scored."""
    test = stats.compare_rows(scores[a], scores[b])
    if test is None:
        return Comparison(a, b, 0.0, -1.0, 1.0, 1.0, "no rows in common", False, 0)
    return Comparison.of(a, b, test)


def decide(
    summaries: Sequence[VariantSummary],
    scores: RowScores,
    target: float,
    *,
    costs_per_call: Mapping[str, float] | None = None,
    curves: Sequence[LearningCurve] = (),
    available: int | None = None,
    command: str | None = None,
    currency: str = "",
    looks: Mapping[str, Any] | None = None,
    searched: Mapping[str, Mapping[str, Any]] | None = None,
    finetune_needs: Mapping[str, float] | None = None,
) -> Decision:
    """Verdicts per rung, the diagnosis and the recommendation. `scores`: each variant's score per eval row id.

    One ship: the first rung whose best variant meets the target, unless the reference that needs no LLM (the
    kNN label) meets it too and the rows favour it (significantly, or not yet); then the reference, with that
    rung as the alternative. An open verdict (the ship's interval spans the target, or the comparison with the
    reference is not significant) ends with the priced next step: `available` eval rows in the file, `command`
    the climb that scores them (`--decide` is added), `looks` the record of a climb that already did
    (`rungwise.judge.sequential`: whether it resolved, and why it stopped). `searched`: the prompt searches of the
    climb by variant (their dev scores), so the verdict says whether a better instruction was tried;
    `finetune_needs` what a fine-tune would have needed (`rows`, `dataset` cost, `updates_per_year`), said when the
    search closes the gap."""
    ladder = [s for s in summaries if not s.probe]
    by_name = {s.name: s for s in summaries}
    prices = costs_per_call or {}
    rungs: list[RungVerdict] = []
    incumbent: VariantSummary | None = None
    shipped: str | None = None
    for rung in ladder_order(ladder):
        best = max((s for s in ladder if s.rung == rung), key=lambda s: s.score)
        meets = best.score >= target
        if incumbent is None:
            verdict: Verdict = "first"
            against = None
        else:
            against = _compare(scores, incumbent.name, best.name)
            verdict = "gain" if against.significant and against.difference > 0 else (
                "worse" if against.significant else "no measurable gain")
        rungs.append(RungVerdict(rung, best.name, best.score, meets, verdict, against))
        if meets and shipped is None:
            shipped = best.name
        if incumbent is None or verdict == "gain":
            incumbent = best
    comparisons = [v.against for v in rungs if v.against is not None]
    best_overall = max(ladder, key=lambda s: s.score) if ladder else None
    lead = by_name[shipped] if shipped else best_overall
    reference = _of_purpose(summaries, "reference")
    versus = (_compare(scores, reference.name, lead.name)
              if reference is not None and lead is not None and reference.name in scores and lead.name in scores
              else None)
    alternative: str | None = None
    if (reference is not None and lead is not None and versus is not None and versus.n
            and reference.score >= target and versus.difference <= 0
            and prices.get(reference.name, 0.0) <= prices.get(lead.name, math.inf)):
        shipped, alternative = reference.name, lead.name  # one ship: the reference the rows favour
    diagnosis = _diagnose(summaries, scores, by_name, shipped)
    if versus is not None and reference is not None and lead is not None:
        diagnosis.cheaper_reference = _reference_sentence(reference, lead, versus, shipped, prices)
        if diagnosis.cheaper_reference:
            diagnosis.notes.insert(0, diagnosis.cheaper_reference)
    for extra in diagnosis_comparisons(summaries, scores):
        if extra not in comparisons:
            comparisons.append(extra)
    n = max((s.n for s in ladder), default=0)
    mdd = stats.minimum_detectable_difference(n, min(0.99, max(0.01, best_overall.score))) if n and best_overall else float("inf")
    ship = by_name[shipped] if shipped else best_overall
    claims: list[tuple[str, str, str | None]] = []
    if ship is not None and ship.low < target <= ship.high:
        claims.append(("target", ship.name, None))
    if versus is not None and not versus.significant and lead is not None and reference is not None and shipped:
        claims.append(("versus", lead.name, reference.name))  # below the target, neither is shipped either way
    if looks is not None and looks.get("resolved"):
        claims = []  # settled by the sequential rule, at its own (stricter) level
    elif looks is not None and not claims:  # open by the sequential rule's level, though settled at 5%
        last = (looks.get("looks") or [{}])[-1]
        claims = [(str(q["kind"]), str(q["variant"]), q.get("other")) for q in last.get("questions") or []
                  if q.get("answer") == "open" and q.get("variant") in scores
                  and (q.get("other") is None or q.get("other") in scores)]
    too_small = bool(claims) or n < 30
    step = _next_step(claims, ship, by_name, scores, target, n, prices, currency, available, command, looks) \
        if too_small and ship is not None else None
    text = _recommend(rungs, by_name, shipped, diagnosis, target, too_small, n, mdd, prices,
                      alternative=alternative, versus=versus, step=step)
    text += _search_sentence(searched or {}, by_name, shipped, target, finetune_needs or {}, currency)
    if shipped is None and curves:  # what more data would buy, most promising curve first
        ranked = sorted(curves, key=lambda c: (c.rows is None, c.rows or 0.0, -c.flattens_at))
        text += " Learning curves: " + " ".join(c.sentence() for c in ranked[:2])
    return Decision(shipped, rungs, diagnosis, too_small, mdd, text, comparisons, alternative, step)


def _search_sentence(searched: Mapping[str, Mapping[str, Any]], by_name: Mapping[str, VariantSummary],
                     shipped: str | None, target: float, needs: Mapping[str, float], currency: str) -> str:
    """What the verdict says of the prompt search: that it closed the gap (fine-tuning not needed, and what that
    saved), or, when a fine-tune is shipped or the target is missed, that it was tried and what it reached."""
    first = next(((by_name[name], info) for name, info in searched.items() if name in by_name), None)
    if first is None:
        return ""
    summary, info = first
    name = summary.name
    twins = [s for s in by_name.values() if s.twin_of == name]
    best = max([summary, *twins], key=lambda s: s.score)
    dev = ""
    if info.get("dev_before") is not None and info.get("dev_after") is not None:
        dev = f" ({float(info['dev_before']):.0%} to {float(info['dev_after']):.0%} on its dev rows)"
    ship = by_name.get(shipped) if shipped else None
    if ship is not None and ship.name in (summary.name, *(t.name for t in twins)):
        unit = f" {currency}" if currency else ""
        spent = f" for {float(info['cost']):.4f}{unit} once" if info.get("cost") is not None else ""
        saved = "its labelled rows, its training and its retraining at each base-model update"
        if needs.get("rows"):
            saved = (f"{int(needs['rows']):,} labelled rows ({float(needs.get('dataset', 0.0)):.2f}{unit} at the "
                     f"task's labelling price), its training, and a retraining at each of the "
                     f"{int(needs.get('updates_per_year', 0))} base-model updates a year")
        return f" The prompt search closed the gap{spent}: fine-tuning was not needed, nor {saved}."
    if ship is not None and kind_of(ship) == "training":
        return (f" The prompt search was tried before it: its best instruction{dev} scored {best.score:.1%} on the "
                f"eval as '{best.name}', short of the target; the gap a clearer instruction leaves is the fine-tune's.")
    if ship is None:
        return (f" The prompt search was tried: its best instruction{dev} scored {best.score:.1%} on the eval as "
                f"'{best.name}', short of the target of {target:.0%}.")
    return ""


def _reference_sentence(reference: VariantSummary, lead: VariantSummary, c: Comparison, shipped: str | None,
                        prices: Mapping[str, float]) -> str | None:
    """What the verdict says of the no-LLM reference against the LLM rung it rests on (`c`: lead - reference)."""
    what = reference.description or "the label of the nearest train row"
    rows = f" on the {c.n} rows both scored" if 0 < c.n < max(reference.n, lead.n) else ""
    if shipped == reference.name:
        price = f", {prices[lead.name]:.6f} per call" if lead.name in prices else ""
        return (f"The alternative is '{lead.name}' ({lead.rung} rung, {lead.score:.1%}{price}): pick it only if the "
                f"inputs will stray from the train rows, which a reference that needs no LLM can only look up.")
    if c.significant and c.difference > 0:
        return None  # the LLM rung is measurably better: the reference is no candidate
    if c.significant:  # the reference is measurably better, but it does not meet the target (else it is shipped)
        return (f"{what[0].upper() + what[1:]}, which needs no LLM, scores {reference.score:.1%} against "
                f"{lead.score:.1%} for '{lead.name}' (p={c.p_value:.3g}{rows}): measurably better, but short of "
                "the target too.")
    if c.difference == 0:
        return (f"'{lead.name}' is no better than {what}, which needs no LLM ({reference.score:.1%} vs "
                f"{lead.score:.1%}, p={c.p_value:.3g}{rows}).")
    favoured = f"'{lead.name}'" if c.difference > 0 else "it"
    return (f"{what[0].upper() + what[1:]}, which needs no LLM, scores {reference.score:.1%} against "
            f"{lead.score:.1%} for '{lead.name}' (p={c.p_value:.3g}{rows}): the rows favour {favoured} by "
            f"{abs(c.difference) * 100:.1f} points, not yet a measurable difference.")


def _next_step(claims: Sequence[tuple[str, str, str | None]], ship: VariantSummary,
               by_name: Mapping[str, VariantSummary], scores: RowScores, target: float, n: int,
               prices: Mapping[str, float], currency: str, available: int | None, command: str | None,
               looks: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rows that would likely settle the open claims (80% power at the observed scores), what scoring them
    costs at the measured rate (model seconds per row, price per call) and the command that does it."""
    from rungwise.judge import sequential

    whys = []
    for kind, name, other in claims:
        s = by_name[name]
        if kind == "target" and s.low < target <= s.high:
            whys.append(f"the interval of '{name}' ({s.low:.1%}-{s.high:.1%}) spans the target")
        elif kind == "target":
            whys.append(f"'{name}' ({s.score:.1%}) is not yet told from the target at the level of the last look")
        else:
            whys.append(f"'{name}' and '{other}' are not yet told apart")
    if not claims:
        whys.append(f"{n} rows are fewer than 30")
    names = list(dict.fromkeys(x for _, a, b in claims for x in (a, b) if x)) or [ship.name]
    have = max((by_name[x].n for x in names), default=n)
    # at the level of the look that would reach them (a later look tests at a stricter level than 5%)
    first = int((looks.get("schedule") or [n])[0]) if looks is not None else n
    needed = sequential.rows_at_look_level(scores, claims, target, first=first,
                                           cap=available if looks is None else None) if claims else 30
    cmd = f"{command or 'rungwise climb TASK'} --decide"
    step: dict[str, Any] = {"why": whys, "claims": [list(c) for c in claims], "variants": names, "rows_now": have,
                            "rows_needed": needed,
                            "available": available, "command": cmd}
    if looks is not None:
        step["stopped"] = looks.get("stopped")
    if needed is None:
        step["sentence"] = ("no number of rows would settle it at the observed scores (they sit exactly on the "
                            "line): treat them as tied, and ship the cheaper")
        return step
    more = max(0, needed - have)
    minutes = more * sum(by_name[x].seconds_per_example for x in names) / 60.0
    money = more * sum(prices.get(x, 0.0) for x in names)
    step.update(more=more, minutes=minutes, cost=money, currency=currency)
    which = " and ".join(f"'{x}'" for x in names)
    time = "under a minute" if minutes < 1 else f"about {minutes:,.0f} minutes"
    cost = f" and {money:,.2f} {currency}".rstrip() if money > 0 else ""
    priced = f"{time} of model time{cost} at the measured rate"
    if available is not None and needed > available:
        step["sentence"] = (f"about {needed:,} rows of {which} would likely settle it (80% power at the observed "
                            f"scores), more than the {available:,} the eval file holds: label about "
                            f"{needed - available:,} more eval rows ({priced} to score them)")
        if looks is None and available > have:  # what the file holds may still settle it, with less power
            rest = (available - have) * sum(by_name[x].seconds_per_example for x in names) / 60.0
            step["sentence"] += (f"; {cmd} scores the {available - have:,} rows it holds beyond these "
                                 f"({'under a minute' if rest < 1 else f'about {rest:,.0f} minutes'}) and stops "
                                 "as soon as it is settled")
    elif looks is not None:
        step["sentence"] = (f"about {more:,} more rows of {which} ({needed:,} in all, 80% power at the observed "
                            f"scores) would likely settle it, {priced}: {cmd} --decide-budget '{needed} rows'")
    else:
        step["sentence"] = (f"about {more:,} more rows of {which} ({needed:,} in all, 80% power at the observed "
                            f"scores) would likely settle it, {priced}: {cmd} scores them in looks and stops as "
                            "soon as it is settled")
    return step


def _best(summaries: Sequence[VariantSummary], kind: str) -> VariantSummary | None:
    """The best-scoring ladder variant of the rungs of `kind`."""
    pool = [s for s in summaries if kind_of(s) == kind and s.purpose == "ladder"]
    return max(pool, key=lambda s: s.score) if pool else None


def lead_of(summaries: Sequence[VariantSummary], target: float) -> VariantSummary | None:
    """The LLM variant a verdict rests on: the best variant of the first rung (in ladder order) whose best meets
    the target, the one decide() ships before it weighs the reference; else the best-scoring one."""
    ladder = [s for s in summaries if not s.probe]
    for rung in ladder_order(ladder):
        best = max((s for s in ladder if s.rung == rung), key=lambda s: s.score)
        if best.score >= target:
            return best
    return max(ladder, key=lambda s: s.score, default=None)


def _of_purpose(summaries: Sequence[VariantSummary], purpose: str) -> VariantSummary | None:
    return next((s for s in summaries if s.purpose == purpose), None)


def diagnosis_comparisons(summaries: Sequence[VariantSummary], scores: RowScores) -> list[Comparison]:
    """The comparisons behind the diagnosis: rag and the oracle against the prompt rung."""
    prompt = _best(summaries, "prompt") or _best(summaries, "baseline")
    out: list[Comparison] = []
    if prompt is None:
        return out
    for s in summaries:
        if (kind_of(s) in ("knowledge", "training") and s.purpose != "curve" and s.name in scores
                and s.name != prompt.name):
            out.append(_compare(scores, prompt.name, s.name))
    return out


def _diagnose(summaries: Sequence[VariantSummary], scores: RowScores,
              by_name: Mapping[str, VariantSummary], shipped: str | None) -> Diagnosis:
    ladder = [s for s in summaries if not s.probe]
    ref = by_name[shipped] if shipped else (max(ladder, key=lambda s: s.score) if ladder else None)
    failures = (ref.format_failures + ref.content_failures) if ref else 0
    format_share = ref.format_failures / failures if ref and failures else 0.0
    notes: list[str] = []
    prompt = _best(summaries, "prompt") or _best(summaries, "baseline")
    rag = _best(summaries, "knowledge")
    oracle = _of_purpose(summaries, "oracle")
    knowledge: bool | None = None
    if prompt is not None and (rag is not None or oracle is not None):
        knowledge = False
        for other in (rag, oracle):
            if other is None:
                continue
            c = _compare(scores, prompt.name, other.name)
            if c.significant and c.difference > 0:
                knowledge = True
                notes.append(f"{other.name} beats {prompt.name} by {c.difference * 100:+.1f} points (p={c.p_value:.3g}): "
                             "the model lacks knowledge that the context supplies")
        if rag is not None and oracle is not None and oracle.score > prompt.score:
            closed = (rag.score - prompt.score) / (oracle.score - prompt.score)
            notes.append(f"retrieval closes {closed:.0%} of the gap between {prompt.name} and the oracle")
    behavioural = format_share > 0.5
    fewshot = _best(summaries, "examples")
    if prompt is not None and fewshot is not None:
        c = _compare(scores, prompt.name, fewshot.name)
        if c.significant and c.difference > 0:
            notes.append(f"worked examples lift the score by {c.difference * 100:+.1f} points: behaviour that examples teach")
    cheaper: str | None = None  # said by decide(), which knows the ship
    over_retrieval: str | None = None
    tuned_rag = max((s for s in summaries if kind_of(s) == "training" and s.retrieval and s.name in scores),
                    key=lambda s: s.score, default=None)
    if rag is not None and tuned_rag is not None:
        c = _compare(scores, rag.name, tuned_rag.name)
        if c.significant and c.difference > 0:
            over_retrieval = (f"'{tuned_rag.name}' beats '{rag.name}' by {c.difference * 100:+.1f} points (p={c.p_value:.3g}) "
                              "with the same passages: what is left after retrieval is behaviour (the answer's form), "
                              "which the weights learn.")
            notes.append(over_retrieval)
    if ref is not None and failures:
        notes.append(f"{ref.name} still fails {failures} of {ref.n} rows: {ref.format_failures} format, {ref.content_failures} content")
    return Diagnosis(format_share, knowledge, behavioural, notes, cheaper, over_retrieval)


def _fmt(s: VariantSummary) -> str:
    return f"{s.score:.1%} (95% CI {s.low:.1%}-{s.high:.1%})"


def _recommend(rungs: list[RungVerdict], by_name: Mapping[str, VariantSummary], shipped: str | None, d: Diagnosis,
               target: float, too_small: bool, n: int, mdd: float, prices: Mapping[str, float], *,
               alternative: str | None = None, versus: Comparison | None = None,
               step: Mapping[str, Any] | None = None) -> str:
    if not rungs:
        return "No rung ran."
    sentences: list[str] = []
    if shipped is not None and alternative is not None and versus is not None:
        s, alt = by_name[shipped], by_name[alternative]
        what = s.description or "the label of the nearest train row"
        rows = f" on the {versus.n} rows both scored" if 0 < versus.n < s.n else ""
        diff = f"{-versus.difference * 100:+.1f} points, p={versus.p_value:.3g}{rows}"
        how = (f"significantly better than '{alt.name}' ({diff})" if versus.significant else
               f"as good as '{alt.name}' on the same rows ({diff})" if versus.difference == 0 else
               f"and the rows favour it over '{alt.name}' ({alt.score:.1%}; {diff}, not yet significant)")
        sentences.append(f"Ship '{shipped}' ({what}, which needs no LLM): it scores {_fmt(s)} on {s.n} eval rows, "
                         f"meeting the target of {target:.0%}, {how}, at no model cost per call.")
    elif shipped is not None:
        s = by_name[shipped]
        verdict = next(v for v in rungs if v.best == shipped)
        sentence = f"Ship '{shipped}' ({s.rung} rung): it scores {_fmt(s)} on {s.n} eval rows, meeting the target of {target:.0%}"
        if verdict.against is not None:
            c = verdict.against
            word = "a significant gain" if verdict.verdict == "gain" else "no measurable gain"
            rows = f" on the {c.n} rows both scored" if 0 < c.n < s.n else ""
            sentence += f", {word} over '{c.a}' ({c.difference * 100:+.1f} points, p={c.p_value:.3g}{rows})"
        sentence += f", at {s.mean_prompt_tokens:.0f} prompt tokens per call"
        if shipped in prices:
            sentence += f" ({prices[shipped]:.6f} per call)"
        sentences.append(sentence + ".")
    else:
        best = max((by_name[v.best] for v in rungs), key=lambda s: s.score)
        sentences.append(f"No rung meets the target of {target:.0%}; the best is '{best.name}' at {_fmt(best)}.")
    if d.knowledge_gap and d.behaviour_over_retrieval:
        sentences.append("The gap is knowledge first, which retrieval supplies, then behaviour: " + d.behaviour_over_retrieval)
    elif d.knowledge_gap:
        sentences.append("The gap is knowledge, which retrieval supplies: improve the corpus and retrieval before any fine-tune.")
    elif shipped is None:
        best = max((by_name[v.best] for v in rungs), key=lambda s: s.score)
        tuned = kind_of(best) == "training"
        if d.behavioural_gap and tuned:
            sentences.append(f"{d.format_share:.0%} of the fine-tune's remaining failures are format failures: "
                             "constrain its output, or train it on more rows.")
        elif d.behavioural_gap:
            sentences.append(f"{d.format_share:.0%} of the remaining failures are format failures: a behavioural gap, "
                             "which constrained output or a fine-tune addresses.")
        elif tuned:
            sentences.append("The fine-tune is already the best rung and its failures are mostly content: train it on "
                             "more rows, or start from a stronger base model.")
        elif any(kind_of(by_name[v.best]) == "training" for v in rungs):
            sentences.append("The remaining failures are mostly content and the fine-tune did no better: more or "
                             "better examples, or a stronger model.")
        else:
            sentences.append("The remaining failures are mostly content: more examples, a stronger model, or a "
                             "fine-tune on this narrow skill.")
    if too_small:
        why = "; ".join((step or {}).get("why") or ["the interval spans the target"])
        settle = (step or {}).get("sentence") or "score more rows"
        stopped = (step or {}).get("stopped")
        if stopped:
            sentences.append(f"The verdict is still open ({_STOPPED.get(str(stopped), str(stopped))}): {why}; {settle}.")
        else:
            sentences.append(f"The eval sample ({n} rows) is too small to decide: {why}; {settle}.")
    if d.cheaper_reference:
        sentences.insert(1, d.cheaper_reference)
    if too_small:
        return " ".join(sentences[:-1][:2] + sentences[-1:])
    return " ".join(sentences[:3])


#: why a climb with --decide stopped with its verdict still open (`rungwise.judge.sequential` stop reasons)
_STOPPED = {"rows": "the eval file ran out of rows", "budget": "the decide budget ran out",
            "looks": "the last look was scored"}
