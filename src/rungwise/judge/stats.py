"""Statistics of rungwise: intervals, paired tests and eval-set resolution.

Pure functions over numpy arrays; every result is a frozen dataclass. Nothing here
depends on scipy: the normal quantiles come from `statistics.NormalDist` and the
exact binomial tail is summed here.

    Interval                         a confidence interval (low, high, level)
    Score                            a point estimate with its interval
    PairedTest                       b minus a on the same rows: difference, interval, p-value

    wilson_interval(successes, n)    Wilson score interval for a proportion
    bootstrap_interval(values)       percentile bootstrap interval for a mean
    score(values)                    Wilson for pass/fail values, bootstrap for graded ones
    mcnemar_exact(a, b)              exact McNemar test + Newcombe interval (pass/fail pairs)
    paired_bootstrap(a, b)           paired bootstrap test + percentile interval (graded pairs)
    compare(a, b)                    McNemar when both are pass/fail, else paired bootstrap
    compare_rows(a, b)               compare() on the rows both scored, matched by row id
    minimum_detectable_difference    the smallest improvement an eval set of n rows can detect
    required_eval_size               how many rows a wanted improvement needs
    too_small_to_tell                True when n rows cannot resolve the wanted improvement
    eval_size_warning                the same check as a sentence for the user, or None

Orientation: `a` is the reference (baseline rung or earlier run), `b` the candidate;
differences are always `mean(b) - mean(a)`, so a positive difference means b is better.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "Interval",
    "PairedTest",
    "Score",
    "bootstrap_interval",
    "compare",
    "compare_rows",
    "eval_size_warning",
    "mcnemar_exact",
    "minimum_detectable_difference",
    "paired_bootstrap",
    "required_eval_size",
    "score",
    "too_small_to_tell",
    "wilson_interval",
]

# Largest index matrix (resamples x rows) drawn at once by the bootstrap: 2M int64 = 16 MB.
_CHUNK_ELEMENTS = 1 << 21
_STANDARD_NORMAL = NormalDist()


# ---------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval `[low, high]` at confidence `level` (0.95 = 95%)."""

    low: float
    high: float
    level: float = 0.95

    @property
    def width(self) -> float:
        return self.high - self.low

    def __contains__(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class Score:
    """A score: the point estimate `value`, its interval `[low, high]` over `n` rows.

    `method` names the interval: "wilson" (pass/fail) or "bootstrap" (graded).
    """

    value: float
    low: float
    high: float
    n: int
    method: str
    level: float = 0.95

    @property
    def interval(self) -> Interval:
        return Interval(self.low, self.high, self.level)


@dataclass(frozen=True)
class PairedTest:
    """Candidate `b` against reference `a` on the same `n` rows.

    `difference` is `mean(b) - mean(a)` with its interval `[low, high]` at `level`;
    `p_value` is two-sided. `improved` counts rows where b beats a and `regressed`
    rows where a beats b (for pass/fail these are McNemar's discordant cells).
    `method` is "mcnemar-exact" or "paired-bootstrap". The verdict (`significant`,
    `better`, `worse`) comes from the p-value; the interval is for reporting and can,
    near the threshold, disagree with it.
    """

    difference: float
    low: float
    high: float
    p_value: float
    n: int
    improved: int
    regressed: int
    method: str
    level: float = 0.95

    @property
    def interval(self) -> Interval:
        return Interval(self.low, self.high, self.level)

    def significant(self, alpha: float = 0.05) -> bool:
        """True when the two-sided p-value is below `alpha`."""
        return self.p_value < alpha

    @property
    def better(self) -> bool:
        """b is significantly greater than a, at alpha = 1 - level."""
        return self.difference > 0 and self.significant(1.0 - self.level)

    @property
    def worse(self) -> bool:
        """b is significantly smaller than a, at alpha = 1 - level."""
        return self.difference < 0 and self.significant(1.0 - self.level)


# ---------------------------------------------------------------------------
# Validation and small helpers


def _check_probability(name: str, value: float, *, closed: bool = False) -> None:
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        bounds = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{name} must lie in {bounds}, got {value!r}")


def _z(level: float) -> float:
    """The standard normal quantile for a two-sided interval at `level`."""
    _check_probability("level", level)
    return _STANDARD_NORMAL.inv_cdf(0.5 + level / 2.0)


def _as_1d(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per eval row), got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError(f"{name} contains NaN; drop or score the unscored rows first")
    return x


def _is_binary(x: npt.NDArray[np.float64]) -> bool:
    return bool(np.all((x == 0.0) | (x == 1.0)))


def _as_pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x, y = _as_1d(a, "a"), _as_1d(b, "b")
    if x.size != y.size:
        raise ValueError(
            f"paired values need one value per row in both runs: a has {x.size}, b has {y.size}; "
            "compare only the rows both runs scored"
        )
    if x.size == 0:
        raise ValueError("nothing to compare: a and b are empty")
    return x, y


def _check_resamples(n_resamples: int) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")


# ---------------------------------------------------------------------------
# Intervals for one run


def wilson_interval(successes: float, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion.

    Method: invert the score test, p in [c - h, c + h] with
    c = (x + z²/2) / (n + z²) and h = z / (n + z²) · sqrt(x(n - x)/n + z²/4).
    Reference: Wilson (1927), JASA 22:209-212; recommended by Brown, Cai & DasGupta (2001),
    Statistical Science 16:101-133, and Newcombe (1998), Statistics in Medicine 17:857-872.
    With n = 0 nothing is known and the interval is (0, 1). The bounds are exactly 0
    for 0 successes and exactly 1 for n successes.
    """
    z = _z(level)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n] = [0, {n}], got {successes}")
    if n == 0:
        return Interval(0.0, 1.0, level)
    z2 = z * z
    denominator = n + z2
    centre = (successes + z2 / 2.0) / denominator
    half = z / denominator * math.sqrt(successes * (n - successes) / n + z2 / 4.0)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high, level)


def _resampled_means(x: npt.NDArray[np.float64], n_resamples: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Means of `n_resamples` with-replacement resamples of x, drawn in bounded chunks."""
    n = x.size
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // n)
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, rows_per_chunk):
        stop = min(n_resamples, start + rows_per_chunk)
        index = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = x[index].mean(axis=1)
    return means


def _percentile_interval(means: npt.NDArray[np.float64], x: npt.NDArray[np.float64], level: float) -> Interval:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    # A resampled mean lies in [min x, max x]; clipping removes rounding noise, so constant
    # values give a zero-width interval exactly at the constant.
    lo, hi = float(x.min()), float(x.max())
    return Interval(min(max(float(low), lo), hi), min(max(float(high), lo), hi), level)


def bootstrap_interval(values: npt.ArrayLike, level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> Interval:
    """Percentile bootstrap interval for the mean of `values`.

    Method: draw `n_resamples` resamples of the rows with replacement (numpy's PCG64
    generator seeded with `seed`, so the result is reproducible), take each resample's
    mean, and report the (1 - level)/2 and (1 + level)/2 quantiles of those means.
    Reference: Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 13.
    Raises ValueError for no values (the mean of nothing has no interval).
    """
    _z(level)
    _check_resamples(n_resamples)
    x = _as_1d(values, "values")
    if x.size == 0:
        raise ValueError("cannot bootstrap the mean of no values; score at least one row")
    means = _resampled_means(x, n_resamples, np.random.default_rng(seed))
    return _percentile_interval(means, x, level)


def score(
    values: npt.ArrayLike,
    *,
    binary: bool | None = None,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Score:
    """The mean of `values` with a confidence interval.

    Pass/fail values (every value 0 or 1, or `binary=True`) get the Wilson interval;
    graded values get the percentile bootstrap interval of the mean (see
    `wilson_interval` and `bootstrap_interval`). `binary=None` decides from the values.
    No values give a value of NaN with the interval (0, 1) when pass/fail.
    """
    x = _as_1d(values, "values")
    is_binary = _is_binary(x)
    if binary is True and not is_binary:
        raise ValueError("binary=True but some values are not 0 or 1; pass binary=False for graded scores")
    use_wilson = is_binary if binary is None else binary
    n = int(x.size)
    if use_wilson:
        successes = int(x.sum())
        interval = wilson_interval(successes, n, level)
        value = successes / n if n else math.nan
        return Score(value, interval.low, interval.high, n, "wilson", level)
    interval = bootstrap_interval(x, level, n_resamples, seed)
    return Score(float(x.mean()), interval.low, interval.high, n, "bootstrap", level)


# ---------------------------------------------------------------------------
# Paired tests


def _binomial_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), with 0 <= k <= n/2.

    Sums the pmf downwards from k, where each term is the largest so far; the first term
    comes from log-gamma and the rest from the ratio pmf(i-1)/pmf(i) = i/(n-i+1).
    """
    log_term = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2.0)
    term = math.exp(log_term)
    terms = [term]
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        terms.append(term)
        if term < terms[0] * 1e-17:
            break
    return min(1.0, math.fsum(terms))


def _mcnemar_p_value(improved: int, regressed: int) -> float:
    discordant = improved + regressed
    if discordant == 0:
        return 1.0
    return min(1.0, 2.0 * _binomial_half_cdf(min(improved, regressed), discordant))


def _newcombe_paired_interval(both: int, improved: int, regressed: int, neither: int, level: float) -> Interval:
    """Newcombe's square-and-add interval for mean(b) - mean(a) on paired pass/fail rows.

    Method 10 of Newcombe (1998), Statistics in Medicine 17:2635-2650: Wilson intervals
    (l1, u1) for p1 = mean(b) and (l2, u2) for p2 = mean(a), combined with the
    continuity-corrected correlation phi of the 2x2 table:
        L = d - sqrt((p1-l1)² + (u2-p2)² - 2 phi (p1-l1)(u2-p2))
        U = d + sqrt((p2-l2)² + (u1-p1)² - 2 phi (p2-l2)(u1-p1))
    Recommended by Fagerland, Lydersen & Laake (2014), Statistics in Medicine 33:2850-2875;
    the implementation matches the worked example of their book (Cavo et al. 2012 data).
    """
    n = both + improved + regressed + neither
    b_pass, b_fail = both + improved, regressed + neither
    a_pass, a_fail = both + regressed, improved + neither
    p1, p2 = b_pass / n, a_pass / n
    l1, u1 = _interval_pair(wilson_interval(b_pass, n, level))
    l2, u2 = _interval_pair(wilson_interval(a_pass, n, level))
    phi = 0.0
    if min(b_pass, b_fail, a_pass, a_fail) > 0:
        cross = float(both * neither - improved * regressed)
        if cross > n / 2.0:
            cross -= n / 2.0
        elif cross >= 0:
            cross = 0.0
        phi = cross / math.sqrt(b_pass * b_fail * a_pass * a_fail)
    d = p1 - p2
    down = math.sqrt(max(0.0, (p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)))
    up = math.sqrt(max(0.0, (p2 - l2) ** 2 + (u1 - p1) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1)))
    return Interval(max(-1.0, d - down), min(1.0, d + up), level)


def _interval_pair(interval: Interval) -> tuple[float, float]:
    return interval.low, interval.high


def mcnemar_exact(a: npt.ArrayLike, b: npt.ArrayLike, level: float = 0.95) -> PairedTest:
    """Exact McNemar test of paired pass/fail values, with Newcombe's interval.

    Test: conditional on the discordant rows (a fails and b passes: `improved`; a passes
    and b fails: `regressed`), `improved` ~ Binomial(improved + regressed, 1/2) under no
    difference; two-sided p = min(1, 2 P(X <= min(improved, regressed))).
    Reference: McNemar (1947), Psychometrika 12:153-157; the exact conditional form as in
    Fagerland, Lydersen & Laake (2013), BMC Medical Research Methodology 13:91.
    Interval for mean(b) - mean(a): Newcombe (1998) square-and-add, method 10 (see
    `_newcombe_paired_interval`).
    """
    x, y = _as_pair(a, b)
    if not (_is_binary(x) and _is_binary(y)):
        raise ValueError("mcnemar_exact needs pass/fail values (0 or 1); use paired_bootstrap for graded scores")
    a_pass, b_pass = x == 1.0, y == 1.0
    both = int(np.sum(a_pass & b_pass))
    improved = int(np.sum(~a_pass & b_pass))
    regressed = int(np.sum(a_pass & ~b_pass))
    n = int(x.size)
    neither = n - both - improved - regressed
    interval = _newcombe_paired_interval(both, improved, regressed, neither, level)
    return PairedTest(
        difference=(improved - regressed) / n,
        low=interval.low,
        high=interval.high,
        p_value=_mcnemar_p_value(improved, regressed),
        n=n,
        improved=improved,
        regressed=regressed,
        method="mcnemar-exact",
        level=level,
    )


def paired_bootstrap(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedTest:
    """Paired bootstrap of mean(b) - mean(a) for graded values on the same rows.

    Method: resample rows (pairs) with replacement, seeded; the interval is the percentile
    interval of the resampled mean differences (Efron & Tibshirani 1993, ch. 13 and 16).
    Two-sided p-value: the share of resampled differences on the other side of zero from
    the observed one (zero counts as the other side), doubled, capped at 1 and floored at
    1/(n_resamples + 1), since a finite bootstrap cannot show a smaller p. An observed
    difference of exactly zero gives p = 1.
    """
    _z(level)
    _check_resamples(n_resamples)
    x, y = _as_pair(a, b)
    d = y - x
    observed = float(d.mean())
    means = _resampled_means(d, n_resamples, np.random.default_rng(seed))
    interval = _percentile_interval(means, d, level)
    if observed > 0:
        other_side = int(np.sum(means <= 0.0))
    elif observed < 0:
        other_side = int(np.sum(means >= 0.0))
    else:
        other_side = n_resamples
    p_value = max(min(1.0, 2.0 * other_side / n_resamples), 1.0 / (n_resamples + 1))
    return PairedTest(
        difference=observed,
        low=interval.low,
        high=interval.high,
        p_value=p_value,
        n=int(d.size),
        improved=int(np.sum(d > 0)),
        regressed=int(np.sum(d < 0)),
        method="paired-bootstrap",
        level=level,
    )


def compare(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PairedTest:
    """Compare candidate b with reference a on the same rows.

    Both pass/fail (all values 0 or 1): `mcnemar_exact`. Otherwise: `paired_bootstrap`.
    """
    x, y = _as_pair(a, b)
    if _is_binary(x) and _is_binary(y):
        return mcnemar_exact(x, y, level)
    return paired_bootstrap(x, y, n_resamples, seed, level)


def compare_rows(a: Mapping[str, float], b: Mapping[str, float], *, minimum: int = 1,
                 level: float = 0.95) -> PairedTest | None:
    """`compare` on the rows both scored, matched by row id (in the order of `a`); None when they share fewer
    than `minimum` rows. Variants stopped early, runs of other samples and distilled students score different
    rows: they are only ever compared on the rows they share."""
    common = [k for k in a if k in b]
    if len(common) < max(1, minimum):
        return None
    return compare([a[k] for k in common], [b[k] for k in common], level=level)


# ---------------------------------------------------------------------------
# Resolution of an eval set


def _paired_rows_needed(
    difference: float, baseline_rate: float, za: float, zb: float, discordance: float | None
) -> float:
    """Rows for McNemar's test to detect `difference` (Connor 1987, normal approximation).

    n = (za sqrt(psi) + zb sqrt(psi - d²))² / d², psi the share of discordant rows.
    Default psi: the two runs pass rows independently at p and p + d, so
    psi = p(1 - p - d) + (1 - p)(p + d) (2p(1 - p) when d = 0).
    """
    p, d = baseline_rate, difference
    psi = p * (1.0 - p - d) + (1.0 - p) * (p + d) if discordance is None else discordance
    if psi < d - 1e-12:
        raise ValueError(
            f"a difference of {d:g} needs at least that share of discordant rows, "
            f"but discordance is {psi:g}; raise discordance or lower the difference"
        )
    return (za * math.sqrt(psi) + zb * math.sqrt(max(0.0, psi - d * d))) ** 2 / (d * d)


def _unpaired_rows_needed(
    difference: float, baseline_rate: float, za: float, zb: float, discordance: float | None
) -> float:
    """Rows per group for two independent proportions (Fleiss, Levin & Paik 2003, ch. 4,
    without continuity correction): n = (za sqrt(2 pbar qbar) + zb sqrt(p1 q1 + p2 q2))² / d²."""
    p1, p2 = baseline_rate, baseline_rate + difference
    pbar = (p1 + p2) / 2.0
    spread = za * math.sqrt(2.0 * pbar * (1.0 - pbar)) + zb * math.sqrt(p1 * (1.0 - p1) + p2 * (1.0 - p2))
    return spread**2 / (difference * difference)


_RowsNeeded = Callable[[float, float, float, float, float | None], float]


def _design(
    baseline_rate: float, alpha: float, power: float, paired: bool, discordance: float | None
) -> tuple[_RowsNeeded, float, float]:
    _check_probability("baseline_rate", baseline_rate, closed=True)
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if discordance is not None:
        if not paired:
            raise ValueError("discordance applies to paired comparisons only; drop it or set paired=True")
        _check_probability("discordance", discordance, closed=True)
    za = _STANDARD_NORMAL.inv_cdf(1.0 - alpha / 2.0)
    zb = _STANDARD_NORMAL.inv_cdf(power)
    return (_paired_rows_needed if paired else _unpaired_rows_needed), za, zb


def _rows_needed(
    difference: float, baseline_rate: float, alpha: float, power: float, paired: bool, discordance: float | None
) -> float:
    rows_needed, za, zb = _design(baseline_rate, alpha, power, paired, discordance)
    p = baseline_rate
    if difference < 0:  # a regression from p is an improvement from 1 - p with pass and fail swapped
        difference, p = -difference, 1.0 - p
    if difference == 0 or p + difference > 1.0 + 1e-12:
        raise ValueError(
            f"difference must be non-zero and keep the rate in [0, 1]: baseline {baseline_rate:g} "
            f"+ difference {difference:g} is outside"
        )
    return rows_needed(min(difference, 1.0 - p), p, za, zb, discordance)


def required_eval_size(
    difference: float,
    baseline_rate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
    discordance: float | None = None,
) -> int:
    """Eval rows needed to detect a change of `difference` from `baseline_rate`.

    Two-sided test at `alpha` with the given `power`, normal approximation.
    Paired (the same rows scored by both runs; McNemar): Connor (1987), Biometrics
    43:207-211, n = (za sqrt(psi) + zb sqrt(psi - d²))² / d², where psi is the share of
    discordant rows. `discordance=None` assumes the two runs pass rows independently at
    the rates p and p + d, i.e. psi = p(1 - p - d) + (1 - p)(p + d), about 2p(1 - p).
    Runs of one model usually fail the same hard rows, so real discordance is lower and
    this estimate errs on the side of too many rows; pass a measured discordance (the
    share of rows where two earlier runs disagreed) to sharpen it. (Under independence the
    paired and unpaired sizes nearly agree; pairing pays off through lower discordance.)
    Unpaired (two independent samples, n rows each): Fleiss, Levin & Paik (2003),
    Statistical Methods for Rates and Proportions, ch. 4, without continuity correction.
    A negative difference (a regression) is handled as an improvement from
    1 - baseline_rate with pass and fail swapped. The exact McNemar test is slightly
    more conservative than this approximation.
    """
    rows = _rows_needed(difference, baseline_rate, alpha, power, paired, discordance)
    return max(1, math.ceil(rows - 1e-9))


def minimum_detectable_difference(
    n: int,
    baseline_rate: float,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
    discordance: float | None = None,
) -> float:
    """The smallest improvement over `baseline_rate` that `n` eval rows detect.

    The inverse of `required_eval_size` (same methods and assumptions, see there): the
    difference d in (0, 1 - baseline_rate] at which the rows needed equal n, found by
    bisection (rows needed fall strictly as d grows). Returns `math.inf` when even the
    largest possible improvement (to a rate of 1) needs more than n rows. For the
    smallest detectable regression, pass 1 - baseline_rate.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rows_needed, za, zb = _design(baseline_rate, alpha, power, paired, discordance)
    top = 1.0 - baseline_rate if discordance is None else min(1.0 - baseline_rate, discordance)
    if top <= 0 or rows_needed(top, baseline_rate, za, zb, discordance) > n:
        return math.inf
    low, high = 0.0, top
    for _ in range(200):
        middle = (low + high) / 2.0
        if middle in (low, high):
            break
        if rows_needed(middle, baseline_rate, za, zb, discordance) > n:
            low = middle
        else:
            high = middle
    return high



def describe_detectable(mdd: float | None) -> str:
    """The smallest detectable difference in words: "about 12%", or that none is detectable at all."""
    if mdd is None or not math.isfinite(mdd):
        return "none at all (even the largest possible difference would go unnoticed)"
    return f"about {mdd:.0%}"

def too_small_to_tell(
    n: int,
    baseline_rate: float,
    wanted_difference: float,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
) -> bool:
    """True when `n` rows are fewer than `required_eval_size` for `wanted_difference`."""
    return n < required_eval_size(wanted_difference, baseline_rate, alpha, power, paired)


def eval_size_warning(
    n: int,
    baseline_rate: float,
    wanted_difference: float,
    alpha: float = 0.05,
    power: float = 0.8,
    paired: bool = True,
) -> str | None:
    """A sentence for the user when `n` rows cannot resolve `wanted_difference`, else None."""
    needed = required_eval_size(wanted_difference, baseline_rate, alpha, power, paired)
    if n >= needed:
        return None
    direction, mirrored = (
        ("regression", 1.0 - baseline_rate) if wanted_difference < 0 else ("improvement", baseline_rate)
    )
    mde = minimum_detectable_difference(n, mirrored, alpha, power, paired) if n >= 1 else math.inf
    smallest = f"no {direction} at all" if math.isinf(mde) else f"about {100 * mde:.1f} points"
    return (
        f"{n} eval rows are too few to tell a difference of {100 * abs(wanted_difference):.1f} points "
        f"from a baseline of {100 * baseline_rate:.1f}%: {100 * power:.0f}% power at alpha {alpha:g} "
        f"needs {needed} rows; with {n} rows the smallest detectable {direction} is {smallest}. "
        "Add eval rows or treat small differences between rungs as ties."
    )
