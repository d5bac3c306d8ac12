"""The cross-model frontier: every (model, variant) of a multi-model climb as a point of score against cost, the
Pareto frontier, each model's best, and the recommendation with a paired test between the top candidates.

Pure logic on `Point`s (no store, no model): `multiclimb.py` builds them from the climbs' outcomes, each model
priced at its own prices. Cost is money per call when any point has a price, else tokens per call (prompt and
completion), so a task without prices still gets a frontier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rungwise.judge import stats
from rungwise.judge.decide import Comparison

__all__ = ["Frontier", "ModelBest", "Point", "build_frontier", "dominates", "pareto_front", "share_words"]

Axis = Literal["cost", "tokens"]


@dataclass(frozen=True)
class Point:
    """One ladder variant of one model, as the frontier sees it."""

    model: str
    """The model's label (unique in the climb)."""
    variant: str
    rung: str
    score: float
    low: float
    high: float
    n: int
    prompt_tokens: float
    completion_tokens: float
    latency_p50_s: float
    cost_per_call: float
    cost_per_month: float
    currency: str = "USD"
    run_id: str = ""
    #: per-row scores by eval row id: the paired test pairs on the ids both points scored
    row_scores: Mapping[str, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.model} / {self.variant}"

    @property
    def tokens_per_call(self) -> float:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "variant": self.variant, "rung": self.rung, "score": self.score, "low": self.low,
                "high": self.high, "n": self.n, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "latency_p50_s": self.latency_p50_s,
                "cost_per_call": self.cost_per_call, "cost_per_month": self.cost_per_month,
                "currency": self.currency, "run_id": self.run_id}


@dataclass(frozen=True)
class ModelBest:
    """A model's best point: its cheapest variant that meets the target, else its best-scoring one."""

    model: str
    point: Point
    meets_target: bool

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "meets_target": self.meets_target, **self.point.to_dict()}


@dataclass
class Frontier:
    target: float
    axis: Axis
    points: list[Point]
    #: keys (`model / variant`) of the non-dominated points, by increasing cost
    frontier: list[str]
    models: list[ModelBest]
    #: the cheapest point that meets the target (None: none does)
    recommended: Point | None
    #: what the recommendation is weighed against: the best-scoring point, else another model's cheapest
    #: point that meets the target; when none meets, the frontier's next cheaper point below the best one
    rival: Point | None
    #: the paired test of `rival` (b) against `recommended` (a) on the eval rows both scored; when none meets
    #: the target, of the best point (b) against `rival` (a)
    comparison: Comparison | None
    recommendation: str

    def cost(self, p: Point) -> float:
        return cost_of(p, self.axis)

    def to_dict(self) -> dict[str, Any]:
        on = set(self.frontier)
        return {
            "target": self.target, "axis": self.axis,
            "points": [{**p.to_dict(), "on_frontier": p.key in on, "meets_target": p.score >= self.target}
                       for p in self.points],
            "frontier": self.frontier,
            "models": [m.to_dict() for m in self.models],
            "recommended": self.recommended.key if self.recommended else None,
            "rival": self.rival.key if self.rival else None,
            "comparison": asdict(self.comparison) if self.comparison else None,
            "recommendation": self.recommendation,
        }


def cost_of(p: Point, axis: Axis) -> float:
    return p.cost_per_call if axis == "cost" else p.tokens_per_call


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(score, cost) `a` dominates `b`: at least as good on both, strictly better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def pareto_front(points: Sequence[Point], axis: Axis) -> list[Point]:
    """The points no other point dominates (higher or equal score at lower or equal cost, one strictly), by
    increasing cost, then decreasing score. Identical points are all kept."""
    pairs = [(p.score, cost_of(p, axis)) for p in points]
    keep = [p for i, p in enumerate(points) if not any(dominates(pairs[j], pairs[i]) for j in range(len(points)))]
    return sorted(keep, key=lambda p: (cost_of(p, axis), -p.score))


def _cheapest(points: Sequence[Point], axis: Axis) -> Point | None:
    """The cheapest point; ties go to the higher score, then fewer prompt tokens."""
    return min(points, key=lambda p: (cost_of(p, axis), -p.score, p.prompt_tokens), default=None)


def _best_scoring(points: Sequence[Point], axis: Axis) -> Point | None:
    return min(points, key=lambda p: (-p.score, cost_of(p, axis), p.prompt_tokens), default=None)


def paired(a: Point, b: Point) -> Comparison | None:
    """`b` against `a` on the eval rows both scored (by row id); None when they share none."""
    test = stats.compare_rows(a.row_scores, b.row_scores)
    return Comparison.of(a.key, b.key, test) if test is not None else None


_SHARES = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth", 6: "a sixth", 8: "an eighth", 10: "a tenth"}


def share_words(part: float, whole: float) -> str:
    """`part` as a share of `whole`, in words: 'a fifth of', '62% of', '1/40 of', 'the same as'."""
    if whole <= 0 or part >= whole:
        return "the same as" if part == whole else f"{part / whole:.1f}x" if whole > 0 else "more than"
    ratio = part / whole
    if ratio > 0.55:
        return f"{ratio:.0%} of"
    k = round(1 / ratio)
    if k in _SHARES and abs(1 / ratio - k) / k < 0.08:
        return f"{_SHARES[k]} of"
    if ratio == 0:
        return "nothing against"
    return f"1/{1 / ratio:,.0f} of" if ratio < 0.1 else f"{ratio:.0%} of"


def _money(x: float, currency: str) -> str:
    text = "0" if x == 0 else f"{x:,.6f}" if abs(x) < 0.01 else f"{x:,.2f}"
    return f"{text} {currency}"


def _describe_cost(p: Point, axis: Axis) -> str:
    if axis == "tokens":
        return f"{p.tokens_per_call:,.0f} tokens per call"
    return f"{_money(p.cost_per_call, p.currency)} per call, {_money(p.cost_per_month, p.currency)} per month"


def _what(p: Point) -> str:
    return f"{p.model}'s '{p.variant}' ({p.rung} rung, {p.prompt_tokens:,.0f} prompt tokens)"


def _score(p: Point) -> str:
    return f"{p.score:.1%} (95% CI {p.low:.1%}-{p.high:.1%})"


def build_frontier(points: Sequence[Point], target: float) -> Frontier:
    """The frontier of `points`, each model's best, and the recommendation: the cheapest point that meets the
    target, weighed against the best-scoring point (or, when that is the same point, against another model's
    cheapest point that meets the target) with a paired test on the rows both scored."""
    points = list(points)
    axis: Axis = "cost" if any(p.cost_per_call > 0 for p in points) else "tokens"
    front = pareto_front(points, axis)
    meeting = [p for p in points if p.score >= target]
    recommended = _cheapest(meeting, axis)
    best = _best_scoring(points, axis)
    rival: Point | None = None
    if recommended is not None:
        if best is not None and best.key != recommended.key:
            rival = best
        else:
            rival = _cheapest([p for p in meeting if p.model != recommended.model], axis)
    elif best is not None:  # none meets: what the best point buys over the next cheaper non-dominated one
        cheaper = [p for p in front if cost_of(p, axis) < cost_of(best, axis)]  # ties at best's cost are not
        rival = cheaper[-1] if cheaper else None
    if rival is not None:
        comparison = paired(recommended, rival) if recommended is not None else paired(rival, best) if best else None
    else:
        comparison = None
    models: list[ModelBest] = []
    for label in dict.fromkeys(p.model for p in points):
        own = [p for p in points if p.model == label]
        own_meeting = [p for p in own if p.score >= target]
        chosen = _cheapest(own_meeting, axis) or _best_scoring(own, axis)
        assert chosen is not None
        models.append(ModelBest(label, chosen, bool(own_meeting)))
    text = _recommend(points, target, axis, recommended, best, rival, comparison, front)
    return Frontier(target, axis, points, [p.key for p in front], models, recommended, rival, comparison, text)


def _recommend(points: Sequence[Point], target: float, axis: Axis, recommended: Point | None, best: Point | None,
               rival: Point | None, comparison: Comparison | None, front: Sequence[Point]) -> str:
    if best is None:
        return "No model scored a ladder variant: there is no frontier."
    basis = "" if axis == "cost" else " (the task sets no token prices: cost is tokens per call)"
    if recommended is None:
        models = len({p.model for p in points})
        text = (f"No model meets the target of {target:.0%}: the best of {len(points)} points from {models} models is "
                f"{_what(best)} at {_score(best)}, {_describe_cost(best, axis)}{basis}. The frontier: "
                + "; ".join(f"{p.key} {p.score:.1%} at {_describe_cost(p, axis).split(',')[0]}" for p in front) + ".")
        if rival is not None and comparison is not None:
            c = comparison
            n = sum(1 for i in rival.row_scores if i in best.row_scores)
            share = share_words(cost_of(rival, axis), cost_of(best, axis))
            unit = "cost" if axis == "cost" else "tokens per call"
            text += (f" Over the next cheaper point on the frontier, {rival.key} (at {share} its {unit}), {best.key} "
                     f"gains {c.difference * 100:+.1f} points on the same {n} rows (95% CI [{c.low * 100:+.1f}, "
                     f"{c.high * 100:+.1f}], p={c.p_value:.3g}, {c.method}): "
                     f"{'a significant difference' if c.significant else 'no measurable difference on these rows'}.")
        return text
    sentences = [f"Ship {_what(recommended)}: the cheapest point that meets the target of {target:.0%}, at "
                 f"{_score(recommended)} on {recommended.n} eval rows, {_describe_cost(recommended, axis)}{basis}."]
    if rival is not None:
        unit = "cost" if axis == "cost" else "tokens per call"
        share = share_words(cost_of(recommended, axis), cost_of(rival, axis))
        where = "the best-scoring point" if best is not None and rival.key == best.key else "the cheapest point of another model that meets it"
        sentence = (f"It meets the target at {share} {rival.model}'s '{rival.variant}' {unit} ({where}, at "
                    f"{_score(rival)}, {_describe_cost(rival, axis)})")
        if comparison is not None:
            c = comparison
            verdict = ("a significant difference" if c.significant else
                       "no measurable difference on these rows (the interval is what the eval cannot rule out)")
            n = sum(1 for i in recommended.row_scores if i in rival.row_scores)
            sentence += (f"; {rival.key} scores {c.difference * 100:+.1f} points against it on the same {n} rows "
                         f"(95% CI [{c.low * 100:+.1f}, {c.high * 100:+.1f}], p={c.p_value:.3g}, {c.method}): {verdict}")
        sentences.append(sentence + ".")
    else:
        sentences.append("It is the only point that meets the target, and the best-scoring one.")
    return " ".join(sentences)
