"""What the data costs: a learning curve of score against training rows, and the rows a target needs.

Given the same eval rows scored at several dataset sizes (a kNN pool, a fine-tune's training rows), this module
fits a saturating curve, puts an interval on it by resampling the eval rows, and says how many rows the target
needs, what labelling them costs, or that no amount of data will get there.

The family is the **inverse power law** `score(n) = a - b * n ** -c`, with `0 <= a <= 1` (the plateau: what
unlimited data would reach), `b >= 0` (more data never hurts) and `0.05 <= c <= 2` (how fast it saturates).
It is the family learning-curve studies find fits best when extrapolating from small samples (Figueroa et
al. 2012; Hestness et al. 2017 found power laws across domains), and its plateau `a` answers the question that
matters: is the target below it at all? A logarithmic curve never flattens, so it would promise every target
to whoever labels enough rows; an exponential saturates too fast to trust beyond the data.

The fit is least squares on the mean scores, computed exactly: for each `c` on a fine grid, `a` and `b` are a
linear least-squares problem (clipped to the bounds), and the `c` with the smallest error wins. It needs no
optimiser that can fail to converge, and it runs vectorised over thousands of bootstrap replicates. Three
parameters need three sizes: a fit on two sizes fixes `c` at 0.5 (a common exponent; see `PRIOR_C`).

The interval is a **paired bootstrap over the eval rows**: each replicate draws the same rows (with replacement,
seeded) at every size, refits, and solves for the rows the target needs. What the data cannot tell (a
replicate whose curve flattens below the target) counts as "more than ten times the data".
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from rungwise.judge import stats

__all__ = [
    "HORIZON", "CurveFit", "HoldoutCheck", "LearningCurve", "curve_sizes", "fit_curve", "geometric_sizes",
    "holdout_check", "learning_curve", "nested_subset", "rows_to_target",
]

T = TypeVar("T")

#: how far beyond the largest measured size an extrapolation is reported (10x the data)
HORIZON = 10.0
#: the exponent a two-point fit assumes (two sizes cannot pin three parameters)
PRIOR_C = 0.5
_C_GRID = np.geomspace(0.05, 2.0, 96)

#: `reached`: the target is met within the data measured; `extrapolated`: met within HORIZON x the data;
#: `beyond`: the curve meets it only beyond HORIZON x the data; `plateau`: the curve flattens below it
Verdict = Literal["reached", "extrapolated", "beyond", "plateau"]


@dataclass(frozen=True)
class CurveFit:
    """`score(n) = a - b * n ** -c`."""

    a: float
    b: float
    c: float

    def predict(self, n: float | npt.ArrayLike) -> Any:
        return self.a - self.b * np.power(np.asarray(n, dtype=float), -self.c)

    def rows_for(self, target: float) -> float:
        """The rows at which the curve reaches `target`; infinity when it flattens below it."""
        if self.b <= 0:
            return 0.0 if self.a >= target else math.inf
        if self.a <= target:  # the plateau itself lies at infinitely many rows
            return math.inf
        return float((self.b / (self.a - target)) ** (1.0 / self.c))


def _fit_many(sizes: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
              grid: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
    """Least-squares fits of `y` (replicates x sizes) for every `c` in `grid`; returns a, b, c per replicate."""
    x = np.power(sizes[None, :], -grid[:, None])  # (grid, sizes)
    xm = x.mean(axis=1, keepdims=True)
    xc = x - xm  # (grid, sizes)
    sxx = (xc ** 2).sum(axis=1)  # (grid,)
    ym = y.mean(axis=1)  # (reps,)
    # y = a - b x: b = -cov(x, y) / var(x), a = mean(y) + b mean(x)
    sxy = y @ xc.T  # (reps, grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(sxx > 0, -sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
    b = np.maximum(b, 0.0)  # more data never hurts
    a = ym[:, None] + b * xm[:, 0][None, :]
    over = a > 1.0  # a plateau above a perfect score: pin it at 1 and refit b alone
    if over.any():
        one_minus = 1.0 - y  # (reps, sizes); b x = 1 - y
        b1 = np.maximum((one_minus @ x.T) / (x ** 2).sum(axis=1)[None, :], 0.0)
        a = np.where(over, 1.0, a)
        b = np.where(over, b1, b)
    a = np.maximum(a, 0.0)
    pred = a[:, :, None] - b[:, :, None] * x[None, :, :]  # (reps, grid, sizes)
    sse = ((pred - y[:, None, :]) ** 2).sum(axis=2)
    best = np.argmin(sse, axis=1)
    rows = np.arange(y.shape[0])
    return a[rows, best], b[rows, best], grid[best]


def fit_curve(sizes: npt.ArrayLike, scores: npt.ArrayLike) -> CurveFit:
    """The least-squares inverse power law through mean `scores` at `sizes` (two sizes or more)."""
    n = np.asarray(sizes, dtype=float)
    y = np.asarray(scores, dtype=float)
    if n.ndim != 1 or n.shape != y.shape or len(n) < 2:
        raise ValueError("a learning curve needs a score for each of at least two sizes")
    if np.any(n <= 0) or len(set(n.tolist())) != len(n):
        raise ValueError("curve sizes must be distinct and positive")
    grid = _C_GRID if len(n) >= 3 else np.array([PRIOR_C])
    a, b, c = _fit_many(n, y[None, :], grid)
    return CurveFit(float(a[0]), float(b[0]), float(c[0]))


def rows_to_target(fit: CurveFit, target: float, largest: float) -> tuple[float, Verdict]:
    """The rows the target needs on `fit`, and what that means against the `largest` size measured."""
    rows = fit.rows_for(target)
    if math.isinf(rows):
        return rows, "plateau"
    if rows <= largest:
        return rows, "reached"
    return rows, "extrapolated" if rows <= HORIZON * largest else "beyond"


@dataclass(frozen=True)
class HoldoutCheck:
    """The honest check: the curve fitted on all sizes but the largest, predicting the largest."""

    fitted_on: list[int]
    size: int
    predicted: float
    measured: float

    @property
    def error(self) -> float:
        return self.predicted - self.measured

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error": self.error}


def holdout_check(sizes: Sequence[int], scores: Sequence[float]) -> HoldoutCheck | None:
    """Fit on every size but the largest, predict the largest: how far off an extrapolation is, measured.
    None with fewer than three sizes."""
    if len(sizes) < 3:
        return None
    order = np.argsort(np.asarray(sizes))
    n = [int(sizes[i]) for i in order]
    y = [float(scores[i]) for i in order]
    fit = fit_curve(n[:-1], y[:-1])
    return HoldoutCheck(fitted_on=n[:-1], size=n[-1], predicted=float(fit.predict(n[-1])), measured=y[-1])


@dataclass
class LearningCurve:
    """A variant's score at several training sizes, the fitted curve, and the rows the target needs."""

    name: str
    kind: str
    sizes: list[int]
    scores: list[float]
    lows: list[float]
    highs: list[float]
    target: float
    fit: CurveFit
    verdict: Verdict
    #: rows the target needs on the fitted curve (None: never, the curve flattens below it)
    rows: float | None
    #: the 95% interval of `rows` from the paired bootstrap; None at the top: more than HORIZON x the data
    rows_low: float | None
    rows_high: float | None
    plateau_low: float
    plateau_high: float
    #: the labelling cost of `rows` (and of its interval) at the task's labelled_example_cost
    cost: float | None
    cost_low: float | None
    cost_high: float | None
    currency: str
    #: the extrapolation drawn: sizes from the smallest to HORIZON x the largest, the fit and its 95% band
    band_sizes: list[float] = field(default_factory=list)
    band_mid: list[float] = field(default_factory=list)
    band_low: list[float] = field(default_factory=list)
    band_high: list[float] = field(default_factory=list)
    check: HoldoutCheck | None = None
    variants: list[str] = field(default_factory=list)

    @property
    def largest(self) -> int:
        return max(self.sizes)

    @property
    def flattens_at(self) -> float:
        """The fitted score at HORIZON x the largest size: where the curve has got to by then. (The plateau `a`
        itself lies at infinitely many rows, and a slow curve's is far from anything the data says.)"""
        return float(self.fit.predict(HORIZON * self.largest))

    def sentence(self, what: str | None = None) -> str:
        """One line: the rows, their interval and their labelling cost, or why more data will not do."""
        what = what or ("fine-tuning" if self.kind == "training" else f"'{self.name}'")
        t = f"{self.target:.0%}"
        far = HORIZON * self.largest
        if self.verdict == "plateau":
            return (f"more data will not get {what} to {t}: its curve flattens at {self.flattens_at:.0%} "
                    f"({_rows(far)} rows, {HORIZON:.0f}x the {self.largest:,} measured).")
        if self.verdict == "beyond":
            return (f"{what} does not reach {t} within {HORIZON:.0f}x the data: its curve is at "
                    f"{self.flattens_at:.0%} at {_rows(far)} rows.")
        assert self.rows is not None
        span = (f"{_rows(self.rows_low)}-{_rows(self.rows_high)}" if self.rows_high is not None
                else f"{_rows(self.rows_low)} to more than {_rows(HORIZON * self.largest)}")
        cost = ""
        if self.cost:
            cost = f", about {_money(self.cost)} {self.currency} of labelling,"
        if self.verdict == "reached" and self.rows <= min(self.sizes):
            return f"{what} already reaches {t} with the fewest rows measured ({min(self.sizes):,})."
        if self.verdict == "reached":
            return f"{what} reaches {t} at about {_rows(self.rows)} rows ({span}) of the {self.largest:,} measured."
        return f"{what} would need about {_rows(self.rows)} rows ({span}){cost} to reach {t}."

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fit"] = asdict(self.fit)
        d["check"] = self.check.to_dict() if self.check else None
        d["sentence"] = self.sentence()
        d["flattens_at"] = self.flattens_at
        return d


def _round(n: float) -> int:
    """Two significant figures: an extrapolation is not more precise than that."""
    if n < 100:
        return max(1, int(round(n)))
    digits = int(math.floor(math.log10(n))) - 1
    return int(round(n, -digits))


def _rows(n: float | None) -> str:
    return "?" if n is None else f"{_round(n):,}"


def _money(x: float) -> str:
    return f"{_round(x):,}" if x >= 100 else f"{x:,.2f}"


def geometric_sizes(budget: int, count: int = 3, ratio: float = 3.0) -> list[int]:
    """`count` sizes, each `ratio` times the one before, the largest `budget`: [111, 333, 1000] for 1000."""
    sizes = sorted({max(1, int(round(budget / ratio ** i))) for i in range(count)})
    return sizes


def curve_sizes(explicit: Sequence[int] | None, full: int) -> list[int]:
    """The sizes a curve scores besides the full pool (which the ladder's variant already scores): the
    `explicit` sizes below `full`, or the two geometric sizes below it (`geometric_sizes`)."""
    sizes = list(explicit) if explicit else geometric_sizes(full)
    return sorted({int(n) for n in sizes if 0 < n < full})


def nested_subset(pool: Sequence[T], n: int, seed: int) -> list[T]:
    """`n` rows of `pool`, in pool order: the first `n` of one seeded shuffle, so each size is a subset of
    every larger one."""
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    return [pool[i] for i in sorted(order[:n])]


def learning_curve(name: str, sizes: Sequence[int], rows: npt.ArrayLike, target: float, *,
                   kind: str = "", labelled_example_cost: float = 0.0, currency: str = "USD",
                   n_resamples: int = 1000, seed: int = 0, variants: Sequence[str] = ()) -> LearningCurve:
    """The learning curve of per-row scores `rows` (sizes x eval rows, the same rows at every size).

    The rows the target needs come from the fit on the mean scores; their interval and the band from refitting
    `n_resamples` paired bootstrap replicates of the eval rows (seeded). An unreached replicate counts as more
    than HORIZON x the data."""
    n = np.asarray(sizes, dtype=float)
    y = np.asarray(rows, dtype=float)
    if y.ndim != 2 or y.shape[0] != len(n) or y.shape[1] < 1:
        raise ValueError("per-row scores must be a (sizes x eval rows) matrix")
    order = np.argsort(n)
    n, y = n[order], y[order]
    means = y.mean(axis=1)
    fit = fit_curve(n, means)
    largest = float(n[-1])
    point, verdict = rows_to_target(fit, target, largest)
    # the paired bootstrap: the same resampled eval rows at every size
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, y.shape[1], size=(n_resamples, y.shape[1]))
    boot = y[:, idx].mean(axis=2).T  # (reps, sizes)
    grid = _C_GRID if len(n) >= 3 else np.array([PRIOR_C])
    a, b, c = _fit_many(n, boot, grid)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(a > target, np.where(b > 0, (b / np.maximum(a - target, 1e-12)) ** (1.0 / c), 0.0), np.inf)
    need = np.where((a >= target) & (b <= 0), 0.0, need)
    cap = HORIZON * largest
    low, high = (float(v) for v in np.percentile(np.minimum(need, cap * 2), [2.5, 97.5]))
    rows_low = None if low > cap else low
    rows_high = None if high > cap else high
    band_n = np.geomspace(n[0], cap, 40)
    curves = a[:, None] - b[:, None] * np.power(band_n[None, :], -c[:, None])
    band_low, band_high = np.percentile(curves, [2.5, 97.5], axis=0)
    plateau_low, plateau_high = (float(v) for v in np.percentile(a, [2.5, 97.5]))
    binary = bool(np.all((y == 0) | (y == 1)))
    intervals = [stats.score(r, binary=binary, seed=seed) for r in y]
    finite = verdict in ("reached", "extrapolated")
    price = labelled_example_cost

    def cost(r: float | None) -> float | None:
        return r * price if r is not None and price > 0 else None

    return LearningCurve(
        name=name, kind=kind, sizes=[int(v) for v in n], scores=[float(v) for v in means],
        lows=[float(s.low) for s in intervals], highs=[float(s.high) for s in intervals], target=target, fit=fit,
        verdict=verdict, rows=point if finite else None, rows_low=rows_low if finite else None,
        rows_high=rows_high if finite else None, plateau_low=plateau_low, plateau_high=plateau_high,
        cost=cost(point if finite else None), cost_low=cost(rows_low if finite else None),
        cost_high=cost(rows_high if finite else None), currency=currency,
        band_sizes=[float(v) for v in band_n], band_mid=[float(v) for v in fit.predict(band_n)],
        band_low=[float(v) for v in band_low], band_high=[float(v) for v in band_high],
        check=holdout_check([int(v) for v in n], [float(v) for v in means]), variants=list(variants),
    )
