"""The sequential rule of `climb --decide`: its schedule, its alpha spending, its error over all looks (simulated),
the next step it prices, and a climb that scores more rows where the verdict hangs."""

from __future__ import annotations

import numpy as np
import pytest

from rungwise import sequential, stats

#: banking77: 200 rows first, 3,055 eval rows after the leaked ones are dropped
FIRST, CAP = 200, 3055


def test_schedule_budget_and_spending() -> None:
    assert sequential.schedule(FIRST, CAP) == [200, 395, 782, 1545, 3055]
    assert sequential.schedule(200, 300) == [200, 300] and sequential.schedule(200, 200) == [200]
    assert sequential.schedule(200, 10_000) == [200, 532, 1414, 3761, 10_000]  # at most MAX_LOOKS looks
    for kind in ("pocock", "obrien-fleming", "bonferroni"):
        levels = sequential.alphas(5, kind=kind)  # type: ignore[arg-type]
        assert sum(levels) == pytest.approx(sequential.ALPHA) and all(a > 0 for a in levels)
    pocock = sequential.alphas(5)
    assert pocock == sorted(pocock, reverse=True)  # the first look (the plain climb's rows) keeps the most
    assert sequential.parse_budget("1500 rows") == sequential.Budget(rows=1500)
    assert sequential.parse_budget("20min") == sequential.Budget(minutes=20)
    assert sequential.parse_budget("2.5 USD") == sequential.Budget(cost=2.5)
    assert sequential.parse_budget(None) == sequential.Budget()
    for bad in ("many", "-3 rows", "0 min", "12"):
        with pytest.raises(ValueError):
            sequential.parse_budget(bad)


def test_the_target_test_is_the_clopper_pearson_interval_inverted() -> None:
    x = np.array([1.0] * 175 + [0.0] * 25)
    low, high = sequential.target_interval(x, binary=True, alpha=0.05)
    assert (low, high) == pytest.approx((0.82103, 0.91745), abs=1e-4)
    assert sequential.target_p_value(x, low - 1e-4, binary=True) < 0.05 < sequential.target_p_value(x, low + 1e-4, binary=True)
    assert sequential.target_p_value(x, high + 1e-4, binary=True) < 0.05 < sequential.target_p_value(x, high - 1e-4, binary=True)


def _sim_target(rng: np.random.Generator, p: float, binary: bool, looks: list[int], levels: list[float],
                target: float) -> int | None:
    """One simulated decision of "does it meet the target": the look it settles at (1-based), None if never."""
    draw = (rng.random(looks[-1]) < p).astype(float) if binary else rng.beta(p * 4, (1 - p) * 4, looks[-1])
    for k, (n, a) in enumerate(zip(looks, levels, strict=True), 1):
        if sequential.target_p_value(draw[:n], target, binary=binary) < a:
            return k
    return None


@pytest.mark.parametrize("binary", [True, False])
def test_a_variant_at_the_target_is_rarely_settled_either_way(binary: bool) -> None:
    """The target claim's error: a variant whose true score is the target declared above or below it, at any of
    the five looks (200 to 3,055 rows). Simulated over 4,000 decisions it stays at or under ALPHA; testing at 5%
    at every look instead would not."""
    rng = np.random.default_rng(0)
    looks, levels, trials, target = sequential.schedule(FIRST, CAP), sequential.alphas(5), 4000, 0.85
    wrongly = sum(_sim_target(rng, target, binary, looks, levels, target) is not None for _ in range(trials)) / trials
    assert wrongly <= sequential.ALPHA
    if binary:
        naive = sum(_sim_target(rng, target, binary, looks, [0.05] * 5, target) is not None
                    for _ in range(trials)) / trials
        assert naive > sequential.ALPHA  # the inflation the spending prevents
        # and a variant 4 points above the target is settled ("meets") in most decisions, mostly before the end
        settled = [_sim_target(rng, 0.89, binary, looks, levels, target) for _ in range(500)]
        assert sum(s is not None for s in settled) / 500 > 0.9
        assert sum(s is not None and s <= 3 for s in settled) / 500 > 0.5


def _sim_versus(rng: np.random.Generator, discordance: float, lift: float, looks: list[int],
                levels: list[float]) -> int | None:
    """One simulated comparison of two pass/fail variants on the same rows: a row is discordant with probability
    `discordance`, in the second variant's favour with probability (1 + lift) / 2."""
    n = looks[-1]
    a = (rng.random(n) < 0.88).astype(float)
    b = a.copy()
    flip = rng.random(n) < discordance
    up = rng.random(n) < (1 + lift) / 2
    a[flip], b[flip] = np.where(up[flip], 0.0, 1.0), np.where(up[flip], 1.0, 0.0)
    for k, (m, level) in enumerate(zip(looks, levels, strict=True), 1):
        if stats.compare(a[:m], b[:m]).p_value < level:  # what stats.compare_rows runs on the shared rows
            return k
    return None


def test_two_variants_with_the_same_score_are_rarely_told_apart() -> None:
    """The comparison's error: two variants with the same true score declared different at any look. Simulated
    over 3,000 decisions with 10% discordant rows (the kNN label against kNN few-shot on banking77: 12%)."""
    rng = np.random.default_rng(1)
    looks, levels, trials = sequential.schedule(FIRST, CAP), sequential.alphas(5), 3000
    wrongly = sum(_sim_versus(rng, 0.10, 0.0, looks, levels) is not None for _ in range(trials)) / trials
    assert wrongly <= sequential.ALPHA
    # a true lift of 2.5 points (a quarter of the discordant rows' balance) is found in most decisions
    found = sum(_sim_versus(rng, 0.10, 0.25, looks, levels) is not None for _ in range(300)) / 300
    assert found > 0.8
