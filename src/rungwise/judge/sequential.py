"""Decisions that resolve: score more rows where the verdict hangs, at a controlled error over all looks.

A climb's verdict rests on two claims: the variant it ships meets the target (its interval lies above it), and it
is the better of the shipped LLM rung and the reference that needs no LLM (the kNN label), or at least the rows
favour it. On a sample of 200 rows either can stay open. With `climb --decide` the variants the open claims
rest on are scored on more rows, continuing the climb's seeded order (the sample's rows first, in early stop's
order, then the eval file's other rows in a seeded order), at a fixed schedule of looks; after each look every
open claim is tested again, until each is settled, the budget is spent or the rows run out.

The error it controls: settling a claim wrongly (a variant whose true score is the target declared above or
below it; two variants with the same true score declared different). Looking again and again inflates it (at
5% per look, banking77's five looks settle such a claim wrongly 13-15% of the time, simulated), so the looks
share ALPHA: look k of K tests at the increment of an alpha-spending function at k/K (`spent`, Lan-DeMets:
Pocock-type by default, which keeps the most for the first look, the rows a plain climb scores), and the
increments sum to ALPHA. By the union bound, each claim is settled wrongly with probability at most ALPHA over all looks,
whatever the data; `tests/test_sequential.py` checks it by simulation. The tests are exact for pass/fail
metrics (the binomial test at the target, whose inversion is the Clopper-Pearson interval; exact McNemar);
graded metrics use Hoeffding's bound for the target and the paired bootstrap for the comparison.

Everything here is pure: `judge` reads per-row scores (by row id), so a benchmark can replay the rule on stored
answers without a model call.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any, Literal, TypeVar

import numpy as np

from rungwise.judge import stats

__all__ = ["ALPHA", "MAX_LOOKS", "POWER", "SPENDING", "Budget", "Look", "Looks", "Question", "alphas",
           "extension_order", "judge", "parse_budget", "replay", "rows_at_look_level", "rows_to_settle", "schedule",
           "settings", "spent"]

#: the chance, over all looks, of settling one claim of the verdict wrongly
ALPHA = 0.05
#: looks at most, the climb's own rows (the first) included
MAX_LOOKS = 5
#: the power at which the next step's rows are estimated
POWER = 0.8
Spending = Literal["pocock", "obrien-fleming", "bonferroni"]
#: how ALPHA is shared between the looks
SPENDING: Spending = "pocock"

T = TypeVar("T")
_NORMAL = NormalDist()


# -- the budget ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """What more rows may cost: eval rows per variant (the first look's included), money (the task's currency)
    or minutes of model time, at the rate the first look measured. None everywhere: the eval file's rows."""

    rows: int | None = None
    cost: float | None = None
    minutes: float | None = None

    def describe(self, currency: str = "") -> str:
        if self.rows is not None:
            return f"{self.rows:,} rows"
        if self.cost is not None:
            return f"{self.cost:g} {currency}".rstrip()
        if self.minutes is not None:
            return f"{self.minutes:g} minutes"
        return "the eval file's rows"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


_BUDGET = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]+)\s*$")


def parse_budget(text: str | None) -> Budget:
    """`"1500 rows"`, `"30 min"` (or minutes), `"2.5 USD"` (any currency word, or `cost`); None or empty: no budget."""
    if text is None or not str(text).strip():
        return Budget()
    match = _BUDGET.match(str(text))
    if not match:
        raise ValueError(f"a decide budget is a number and a unit: '1500 rows', '30 min' or '2.5 USD', not {text!r}")
    value, unit = float(match.group(1)), match.group(2).lower()
    if value <= 0:
        raise ValueError(f"a decide budget must be positive, got {text!r}")
    if unit in ("row", "rows"):
        return Budget(rows=int(value))
    if unit in ("m", "min", "mins", "minute", "minutes"):
        return Budget(minutes=value)
    return Budget(cost=value)


def settings(budget: Budget) -> dict[str, Any]:
    """What a run records of the rule (part of its identity only when --decide is set)."""
    return {"alpha": ALPHA, "max_looks": MAX_LOOKS, "spending": SPENDING, "budget": budget.to_dict()}


# -- the looks ----------------------------------------------------------------------------------------------------


def extension_order(first: Sequence[T], every: Sequence[T], seed: int, key: Any = id) -> list[T]:
    """The order more rows are scored in: the climb's own rows (`first`), then the other rows of `every` in a
    seeded random order. `key` maps a row to its identity."""
    seen = {key(x) for x in first}
    rest = [x for x in every if key(x) not in seen]
    random.Random(f"rungwise-decide-{seed}").shuffle(rest)
    return list(first) + rest


def schedule(first: int, cap: int, max_looks: int = MAX_LOOKS) -> list[int]:
    """Rows at each look: the climb's `first`, then about double each time (evenly on a log scale) up to `cap`,
    at most `max_looks` looks. Fixed before any look, so the alpha of each look never depends on the data."""
    if cap <= first or first < 1:
        return [first]
    looks = min(max_looks, 1 + math.ceil(math.log2(cap / first) - 1e-9))
    ratio = (cap / first) ** (1.0 / (looks - 1))
    rows = [first] + [min(cap, round(first * ratio**k)) for k in range(1, looks - 1)] + [cap]
    return sorted(set(rows))


def spent(t: float, alpha: float = ALPHA, kind: Spending = SPENDING) -> float:
    """The alpha spent by information fraction `t` (0 to 1): Lan and DeMets (1983)'s spending functions."""
    t = min(1.0, max(0.0, t))
    if t <= 0.0:
        return 0.0
    if kind == "pocock":
        return alpha * math.log(1.0 + (math.e - 1.0) * t)
    if kind == "obrien-fleming":
        return min(alpha, 2.0 - 2.0 * _NORMAL.cdf(_NORMAL.inv_cdf(1.0 - alpha / 2.0) / math.sqrt(t)))
    return alpha * t


def alphas(looks: int, alpha: float = ALPHA, kind: Spending = SPENDING) -> list[float]:
    """Each look's own level: the spending function's increment at k/looks (they sum to `alpha`)."""
    return [spent(k / looks, alpha, kind) - spent((k - 1) / looks, alpha, kind) for k in range(1, looks + 1)]


# -- the tests ----------------------------------------------------------------------------------------------------


def _log_pmf(n: int, p: float) -> np.ndarray:
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=float)))])
    k = np.arange(n + 1, dtype=float)
    with np.errstate(divide="ignore"):
        return logfact[n] - logfact[: n + 1] - logfact[n::-1] + k * np.log(p) + (n - k) * np.log1p(-p)


def binomial_tails(successes: int, n: int, p: float) -> tuple[float, float]:
    """P(X <= successes) and P(X >= successes) for X ~ Binomial(n, p)."""
    if p <= 0.0 or p >= 1.0:
        low = 1.0 if (p <= 0.0 or successes >= n) else 0.0
        high = 1.0 if (p >= 1.0 or successes <= 0) else 0.0
        return low, high
    pmf = np.exp(_log_pmf(n, p))
    return min(1.0, float(pmf[: successes + 1].sum())), min(1.0, float(pmf[successes:].sum()))


def target_p_value(scores: Sequence[float] | np.ndarray, target: float, *, binary: bool) -> float:
    """Two-sided p-value of "the true score is the target": the exact binomial test for pass/fail scores,
    Hoeffding's bound for graded ones (scores in [0, 1])."""
    x = np.asarray(scores, dtype=float)
    n = int(x.size)
    if n == 0:
        return 1.0
    if binary:
        low, high = binomial_tails(int(round(x.sum())), n, target)
        return min(1.0, 2.0 * min(low, high))
    gap = abs(float(x.mean()) - target)
    return min(1.0, 2.0 * math.exp(-2.0 * n * gap * gap))


def target_interval(scores: Sequence[float] | np.ndarray, *, binary: bool, alpha: float) -> tuple[float, float]:
    """The two-sided (1 - alpha) interval whose inversion is `target_p_value`: Clopper-Pearson, or Hoeffding."""
    x = np.asarray(scores, dtype=float)
    n = int(x.size)
    if n == 0:
        return 0.0, 1.0
    if not binary:
        half = math.sqrt(math.log(2.0 / alpha) / (2.0 * n))
        return max(0.0, float(x.mean()) - half), min(1.0, float(x.mean()) + half)
    s = int(round(x.sum()))

    def bound(lower: bool) -> float:
        if (lower and s == 0) or (not lower and s == n):
            return 0.0 if lower else 1.0
        lo, hi = 0.0, 1.0
        for _ in range(50):
            mid = (lo + hi) / 2.0
            below, above = binomial_tails(s, n, mid)
            if lower:  # the smallest p at which s or more happen with probability alpha/2
                lo, hi = (mid, hi) if above < alpha / 2.0 else (lo, mid)
            else:  # the largest p at which s or fewer happen with probability alpha/2
                lo, hi = (mid, hi) if below > alpha / 2.0 else (lo, mid)
        return (lo + hi) / 2.0

    return bound(True), bound(False)


# -- one look -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One claim the verdict rests on, at one look. `kind` "target": does `variant` meet the target (`estimate`
    its score, `low`-`high` its interval at the look's level); "versus": `variant` against `other` (`estimate`
    the difference variant - other on the rows both scored)."""

    kind: Literal["target", "versus"]
    variant: str
    other: str | None
    estimate: float
    low: float
    high: float
    p_value: float
    n: int
    #: "meets", "misses", "better", "worse" (variant against other) or "open"
    answer: str
    #: the look it was settled at (a settled claim stays settled), else None
    settled_at: int | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.variant}:{self.other or ''}"

    @property
    def open(self) -> bool:
        return self.answer == "open"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Look:
    """The verdict's claims after `look` (1-based) of `of`, with `rows` rows of the schedule scored."""

    look: int
    of: int
    rows: int
    alpha: float
    #: the variant the rows favour (ties go to the reference, which needs no LLM)
    ship: str
    #: per variant: rows scored, score and its interval at the look's level
    variants: dict[str, dict[str, float]]
    questions: list[Question] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return all(not q.open for q in self.questions)

    def needs(self, free: str | None = None) -> list[str]:
        """The variants an open claim rests on: those the next look scores. `free` (the reference, which needs no
        model call) goes with any of them, so that a comparison that opens later has all of their rows."""
        out: list[str] = []
        for q in self.questions:
            if q.open:
                out += [q.variant] + ([q.other] if q.other else [])
        if out and free:
            out.append(free)
        return list(dict.fromkeys(out))

    def to_dict(self) -> dict[str, Any]:
        return {"look": self.look, "of": self.of, "rows": self.rows, "alpha": self.alpha, "ship": self.ship,
                "resolved": self.resolved, "variants": self.variants,
                "questions": [q.to_dict() for q in self.questions]}


RowScores = Mapping[str, Mapping[str, float]]


def _mean(x: Mapping[str, float]) -> float:
    return float(np.mean(list(x.values()))) if x else 0.0


def judge(scores: RowScores, lead: str, reference: str | None, target: float, *, binary: bool, alpha: float,
          look: int = 1, of: int = 1, rows: int = 0, settled: Mapping[str, Question] | None = None) -> Look:
    """The verdict's claims at one look, from each variant's scores by row id (no model call).

    `lead`: the LLM variant the climb ships (else its best); `reference`: the no-LLM reference, if any. The ship
    is the one of the two the rows favour, if it meets the target on its point estimate (a tie goes to the
    reference). Claims: the ship meets (or misses) the target; lead against reference, when the ship meets the
    target on its point estimate (below it, neither is shipped whichever is better). `settled`: claims settled at
    earlier looks, kept as they were."""
    settled = settled or {}
    a = scores[lead]
    r = scores.get(reference) if reference else None
    test = stats.compare_rows(r, a, level=1.0 - alpha) if r else None
    ship = lead
    if reference and r and (test.difference if test else _mean(a) - _mean(r)) <= 0 and _mean(r) >= target:
        ship = reference
    questions: list[Question] = []
    key = f"target:{ship}:"
    if key in settled:
        questions.append(settled[key])
    else:
        x = list(scores[ship].values())
        p = target_p_value(x, target, binary=binary)
        low, high = target_interval(x, binary=binary, alpha=alpha)
        mean = float(np.mean(x)) if x else 0.0
        answer = ("meets" if mean >= target else "misses") if p < alpha else "open"
        questions.append(Question("target", ship, None, mean, low, high, p, len(x), answer,
                                  look if answer != "open" else None))
    if reference and r is not None and _mean(scores[ship]) >= target:  # the comparison matters to a ship only
        key = f"versus:{lead}:{reference}"
        if key in settled:
            questions.append(settled[key])
        elif test is None:
            questions.append(Question("versus", lead, reference, 0.0, -1.0, 1.0, 1.0, 0, "open"))
        else:
            answer = ("better" if test.difference > 0 else "worse") if test.p_value < alpha else "open"
            questions.append(Question("versus", lead, reference, test.difference, test.low, test.high,
                                      test.p_value, test.n, answer, look if answer != "open" else None))
    variants: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys([lead] + ([reference] if reference else [])):
        x = list(scores[name].values())
        low, high = target_interval(x, binary=binary, alpha=alpha)
        variants[name] = {"n": len(x), "score": float(np.mean(x)) if x else 0.0, "low": low, "high": high}
    return Look(look, of, rows, alpha, ship, variants, questions)


# -- the next step ------------------------------------------------------------------------------------------------


def _target_rows(score: float, target: float, alpha: float, power: float) -> float | None:
    """Rows for a two-sided one-sample test of p = target to detect the observed score (normal approximation)."""
    if score == target or not 0.0 < target < 1.0:
        return None
    za, zb = _NORMAL.inv_cdf(1.0 - alpha / 2.0), _NORMAL.inv_cdf(power)
    p = min(max(score, 1e-6), 1.0 - 1e-6)
    return ((za * math.sqrt(target * (1 - target)) + zb * math.sqrt(p * (1 - p))) / (score - target)) ** 2


def _versus_rows(a: Mapping[str, float], b: Mapping[str, float], alpha: float, power: float) -> float | None:
    """Rows for a paired test of b against a to detect the observed difference (at the observed discordance for
    pass/fail scores, the observed spread of the differences for graded ones)."""
    common = [k for k in a if k in b]
    if not common:
        return None
    x = np.array([a[k] for k in common], dtype=float)
    y = np.array([b[k] for k in common], dtype=float)
    d = float((y - x).mean())
    if d == 0.0:
        return None
    if np.all((x == 0) | (x == 1)) and np.all((y == 0) | (y == 1)):
        discordance = float(np.mean(x != y))
        return float(stats.required_eval_size(d, float(x.mean()), alpha, power, discordance=discordance))
    sd = float((y - x).std(ddof=1)) if len(common) > 1 else 0.0
    za, zb = _NORMAL.inv_cdf(1.0 - alpha / 2.0), _NORMAL.inv_cdf(power)
    return ((za + zb) * sd / d) ** 2 if sd > 0 else float(len(common))


def rows_to_settle(scores: RowScores, open_claims: Sequence[tuple[str, str, str | None]], target: float, *,
                   alpha: float = 0.05, power: float = POWER) -> int | None:
    """Rows (per variant, in all) that would likely settle the open claims at the observed scores: the most any
    claim needs. `open_claims`: (kind, variant, other). None when a claim cannot be settled at the observed scores
    (a score exactly at the target, two variants exactly tied)."""
    needed: list[float] = []
    for kind, variant, other in open_claims:
        if kind == "target":
            n = _target_rows(_mean(scores[variant]), target, alpha, power)
        else:
            n = _versus_rows(scores[other], scores[variant], alpha, power) if other else None
        if n is None:
            return None
        needed.append(n)
    return math.ceil(max(needed)) if needed else 0


def rows_at_look_level(scores: RowScores, open_claims: Sequence[tuple[str, str, str | None]], target: float, *,
                       first: int, cap: int | None = None, power: float = POWER) -> int | None:
    """`rows_to_settle` at the level the rows would be tested at by `climb --decide`, not at ALPHA: the level of
    the look of the schedule (from `first` rows up to `cap`, else up to the rows themselves, as a rows budget
    sets it) that reaches them. Smaller levels need more rows, which move the look, so it is solved by iteration
    (a few steps: the levels of the later looks differ little)."""
    needed = rows_to_settle(scores, open_claims, target, alpha=ALPHA, power=power)
    for _ in range(8):
        if needed is None or needed <= first:
            return needed
        plan = schedule(first, cap if cap is not None and cap >= needed else needed)
        level = alphas(len(plan))[next(k for k, rows in enumerate(plan) if rows >= needed)]
        again = rows_to_settle(scores, open_claims, target, alpha=level, power=power)
        if again is None or again <= needed:
            return needed
        needed = again
    return needed


# -- the looks of one lead, driven by the climb and by a replay -------------------------------------------------


class Looks:
    """The sequence of looks of one lead: which rows each look scores and of which variants, and the verdict's
    claims after each. The climb (scoring with the model) and `replay` (slicing stored answers) both drive it,
    so a benchmark replays the climb's own judgement. Usage: for each `rows` of `self.schedule`, score every
    variant of `self.need` up to `rows`, then `observe(scores)`; stop when it returns a resolved look."""

    def __init__(self, lead: str, reference: str | None, target: float, *, binary: bool, schedule: Sequence[int],
                 free_reference: bool = True) -> None:
        self.lead, self.reference, self.target, self.binary = lead, reference, target, binary
        self.schedule = list(schedule)
        self.levels = alphas(len(self.schedule))
        self.names = [lead] + ([reference] if reference else [])
        self._free = reference if free_reference else None
        self.settled: dict[str, Question] = {}
        self.looks: list[Look] = []
        #: the variants the next look scores more rows of (the first look: none, the climb's rows are its rows)
        self.need: list[str] = []

    def observe(self, scores: RowScores) -> Look:
        """Judge the next look on each variant's scores by row id (after `need` was scored up to its rows)."""
        k = len(self.looks) + 1
        look = judge(scores, self.lead, self.reference, self.target, binary=self.binary, alpha=self.levels[k - 1],
                     look=k, of=len(self.schedule), rows=self.schedule[k - 1], settled=self.settled)
        self.looks.append(look)
        self.settled.update({q.key: q for q in look.questions if not q.open})
        self.need = [] if look.resolved or k == len(self.schedule) else look.needs(free=self._free)
        return look


# -- replaying the rule on stored answers -------------------------------------------------------------------------


def replay(full: RowScores, order: Sequence[str], lead: str, reference: str | None, target: float, *, binary: bool,
           first: int, cap: int | None = None) -> tuple[list[Look], str]:
    """The looks `climb --decide` would take, replayed on answers already scored on every row (no model call):
    `full` each variant's scores by row id, `order` the row ids in the climb's order (`extension_order`), `first`
    the climb's sample size, `cap` the rows the budget allows (default: all of `order`). Each look scores the
    variants an open claim rests on up to the schedule's rows, through the climb's own `Looks`. Returns the looks
    and why they stopped ("resolved", or "rows": the schedule ran out)."""
    cap = len(order) if cap is None else min(cap, len(order))
    looks = Looks(lead, reference, target, binary=binary, schedule=schedule(first, cap))
    have = dict.fromkeys(looks.names, first)
    for rows in looks.schedule:
        for name in looks.need:
            have[name] = rows
        scores = {n: {i: full[n][i] for i in order[: have[n]] if i in full[n]} for n in looks.names}
        if looks.observe(scores).resolved:
            return looks.looks, "resolved"
    return looks.looks, "rows"
