"""Tests of rungwise.stats against scipy, textbook values and properties."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from rungwise.judge.stats import (
    Interval,
    PairedTest,
    Score,
    bootstrap_interval,
    compare,
    eval_size_warning,
    mcnemar_exact,
    minimum_detectable_difference,
    paired_bootstrap,
    required_eval_size,
    score,
    too_small_to_tell,
    wilson_interval,
)

Z_975 = 1.959963984540054  # standard normal quantiles for hand computations
Z_80 = 0.8416212335729143


def paired_table(both: int, improved: int, regressed: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Pass/fail arrays (a, b) whose 2x2 table has the given cells; improved = a fails, b passes."""
    a = [1] * both + [0] * improved + [1] * regressed + [0] * neither
    b = [1] * both + [1] * improved + [0] * regressed + [0] * neither
    return np.array(a), np.array(b)


# ---------------------------------------------------------------------------
# Wilson


def test_wilson_textbook_81_of_263() -> None:
    # Newcombe (1998) / Brown, Cai & DasGupta (2001): 81 of 263 -> (0.2553, 0.3662).
    interval = wilson_interval(81, 263)
    assert interval.low == pytest.approx(0.2553, abs=5e-5)
    assert interval.high == pytest.approx(0.3662, abs=5e-5)
    assert interval.level == 0.95


@pytest.mark.parametrize(
    ("successes", "n", "level"),
    [(81, 263, 0.95), (15, 148, 0.95), (0, 20, 0.95), (20, 20, 0.95), (1, 29, 0.99), (7, 10, 0.90), (500, 1000, 0.8)],
)
def test_wilson_matches_scipy(successes: int, n: int, level: float) -> None:
    expected = binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    interval = wilson_interval(successes, n, level)
    assert interval.low == pytest.approx(expected.low, abs=1e-12)
    assert interval.high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) == Interval(0.0, 1.0, 0.95)
    assert wilson_interval(0, 10).low == 0.0
    assert wilson_interval(10, 10).high == 1.0
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="level"):
        wilson_interval(1, 10, level=1.0)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=1, max_value=100_000), data=st.data(), level=st.floats(0.5, 0.999))
def test_wilson_contains_estimate_and_stays_in_unit_interval(n: int, data: st.DataObject, level: float) -> None:
    successes = data.draw(st.integers(min_value=0, max_value=n))
    interval = wilson_interval(successes, n, level)
    assert 0.0 <= interval.low <= successes / n <= interval.high <= 1.0


# ---------------------------------------------------------------------------
# Bootstrap and score


def test_bootstrap_is_seeded_and_reproducible() -> None:
    values = np.random.default_rng(1).normal(size=200)
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    assert bootstrap_interval(values, seed=3) != bootstrap_interval(values, seed=4)


def test_bootstrap_covers_true_mean_on_synthetic_data() -> None:
    # 40 samples of 100 graded scores from Beta(2, 5) (mean 2/7): a 95% interval should
    # cover the true mean about 38 times; fewer than 34 would be a clear miss (P < 0.5%).
    rng = np.random.default_rng(20240601)
    true_mean = 2 / 7
    covered = sum(true_mean in bootstrap_interval(rng.beta(2, 5, size=100), seed=i) for i in range(40))
    assert covered >= 34


def test_bootstrap_width_matches_normal_theory() -> None:
    values = np.random.default_rng(7).normal(loc=3.0, scale=2.0, size=400)
    interval = bootstrap_interval(values, n_resamples=4000)
    expected_width = 2 * Z_975 * values.std() / math.sqrt(values.size)
    assert interval.width == pytest.approx(expected_width, rel=0.1)
    assert values.mean() in interval


def test_bootstrap_of_constant_values_is_a_point() -> None:
    assert bootstrap_interval([0.3] * 7) == Interval(0.3, 0.3, 0.95)


def test_bootstrap_large_input_is_chunked() -> None:
    values = np.random.default_rng(0).random(10_000)  # 2,000 x 10,000 indices: drawn in 10 chunks
    interval = bootstrap_interval(values)
    assert interval.low < values.mean() < interval.high


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no values"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_interval([0.1, float("nan")])
    with pytest.raises(ValueError, match="one-dimensional"):
        bootstrap_interval([[0.1, 0.2]])


def test_score_dispatches_on_values() -> None:
    passed = score([1, 0, 1, 1, True, False])
    assert passed.method == "wilson"
    assert passed.value == pytest.approx(4 / 6)
    assert passed.interval == wilson_interval(4, 6)
    graded = score([0.5, 0.25, 1.0, 0.0])
    assert graded.method == "bootstrap"
    assert graded.value == pytest.approx(0.4375)
    assert graded.interval == bootstrap_interval([0.5, 0.25, 1.0, 0.0])
    assert score([1, 0, 1], binary=False).method == "bootstrap"
    with pytest.raises(ValueError, match="binary=True"):
        score([0.5, 1.0], binary=True)


def test_score_of_nothing() -> None:
    empty = score([])
    assert empty.n == 0 and math.isnan(empty.value)
    assert (empty.low, empty.high) == (0.0, 1.0)


def test_results_are_frozen() -> None:
    result = score([1, 0])
    assert isinstance(result, Score)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = 1.0  # type: ignore[misc]


# ---------------------------------------------------------------------------
# McNemar


def test_mcnemar_textbook_cavo_2012() -> None:
    # Fagerland, Lydersen & Laake, Statistical Analysis of Contingency Tables, ch. 8 (Cavo et al. 2012):
    # 59 / 6 / 16 / 80 -> difference -0.0621, exact conditional P = 0.052479,
    # Newcombe square-and-add interval (-0.1186, -0.0046).
    a, b = paired_table(both=59, improved=6, regressed=16, neither=80)
    result = mcnemar_exact(a, b)
    assert result.method == "mcnemar-exact"
    assert (result.n, result.improved, result.regressed) == (161, 6, 16)
    assert result.difference == pytest.approx(-10 / 161)
    assert result.p_value == pytest.approx(0.052479, abs=5e-7)
    assert result.low == pytest.approx(-0.1186, abs=5e-5)
    assert result.high == pytest.approx(-0.0046, abs=5e-5)
    assert not result.significant() and not result.better and not result.worse


def test_newcombe_interval_is_symmetric_under_swapping_runs() -> None:
    a, b = paired_table(both=12, improved=9, regressed=3, neither=5)
    forward, backward = mcnemar_exact(a, b), mcnemar_exact(b, a)
    assert forward.difference == pytest.approx(-backward.difference)
    assert forward.low == pytest.approx(-backward.high)
    assert forward.high == pytest.approx(-backward.low)
    assert forward.p_value == backward.p_value


@pytest.mark.parametrize(
    ("improved", "regressed"),
    [(0, 0), (1, 0), (6, 16), (10, 10), (3, 12), (40, 21), (0, 25), (150, 100), (4000, 4200), (20_000, 20_600)],
)
def test_mcnemar_p_value_matches_scipy_binomtest(improved: int, regressed: int) -> None:
    a, b = paired_table(both=7, improved=improved, regressed=regressed, neither=11)
    result = mcnemar_exact(a, b)
    expected = 1.0 if improved + regressed == 0 else binomtest(improved, improved + regressed, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_significant_improvement() -> None:
    a, b = paired_table(both=50, improved=25, regressed=5, neither=20)
    result = mcnemar_exact(a, b)
    assert result.p_value < 0.001
    assert result.better and not result.worse and result.significant(0.01)
    assert 0 < result.low < result.difference < result.high


def test_mcnemar_all_equal() -> None:
    a = np.array([1, 0, 1, 1, 0])
    result = mcnemar_exact(a, a)
    assert result.difference == 0.0 and result.p_value == 1.0
    assert result.low < 0 < result.high


def test_paired_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="a has 3, b has 2"):
        mcnemar_exact([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="a has 3, b has 2"):
        paired_bootstrap([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="a has 3, b has 2"):
        compare([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="empty"):
        compare([], [])
    with pytest.raises(ValueError, match="pass/fail"):
        mcnemar_exact([0.5, 1.0], [1.0, 0.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=300))
def test_mcnemar_interval_is_ordered_and_bounded(pairs: list[tuple[bool, bool]]) -> None:
    a, b = np.array(pairs, dtype=float).T
    result = mcnemar_exact(a, b)
    assert -1.0 <= result.low <= result.difference <= result.high <= 1.0
    assert 0.0 < result.p_value <= 1.0


# ---------------------------------------------------------------------------
# Paired bootstrap and compare


def test_paired_bootstrap_detects_a_real_improvement() -> None:
    rng = np.random.default_rng(11)
    a = rng.random(300)
    b = np.clip(a + 0.05 + rng.normal(scale=0.1, size=300), 0, 1)
    result = paired_bootstrap(a, b)
    assert result.method == "paired-bootstrap" and result.n == 300
    assert result.difference == pytest.approx(float(np.mean(b - a)))
    assert result.low < result.difference < result.high
    assert result.low > 0
    assert result.p_value == pytest.approx(1 / 2001)  # the floor: no resample crossed zero
    assert result.better
    assert result.improved + result.regressed <= 300
    assert paired_bootstrap(a, b) == result  # seeded


def test_paired_bootstrap_without_a_difference() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random(200), rng.random(200)
    result = paired_bootstrap(a, b)
    assert result.low < 0 < result.high
    assert result.p_value > 0.05 and not result.significant()
    same = paired_bootstrap(a, a)
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_p_value_rule() -> None:
    # Differences of mean 0.05 with sd 0.5 over 100 rows: z = 1; p close to the normal 0.317.
    d = np.random.default_rng(2).normal(size=100)
    d = 0.05 + 0.5 * (d - d.mean()) / d.std()
    result = paired_bootstrap(np.zeros(100), d, n_resamples=4000)
    assert result.p_value == pytest.approx(0.317, abs=0.04)


def test_compare_dispatches() -> None:
    a, b = paired_table(both=3, improved=4, regressed=1, neither=2)
    assert compare(a, b) == mcnemar_exact(a, b)
    graded = compare([0.2, 0.4, 0.9], [0.3, 0.4, 1.0])
    assert isinstance(graded, PairedTest) and graded.method == "paired-bootstrap"
    assert graded == paired_bootstrap([0.2, 0.4, 0.9], [0.3, 0.4, 1.0])


# ---------------------------------------------------------------------------
# Resolution: minimum detectable difference and eval size


def test_required_eval_size_hand_computed_cases() -> None:
    # Unpaired, Fleiss, Levin & Paik ch. 4 formula without continuity correction, 0.5 vs 0.6:
    # (1.95996 sqrt(2 * 0.55 * 0.45) + 0.84162 sqrt(0.25 + 0.24))² / 0.1² = 387.3 -> 388 per group.
    hand = (Z_975 * math.sqrt(2 * 0.55 * 0.45) + Z_80 * math.sqrt(0.25 + 0.24)) ** 2 / 0.01
    assert hand == pytest.approx(387.3, abs=0.05)
    assert required_eval_size(0.1, 0.5, paired=False) == 388
    # 0.6 vs 0.8: (1.95996 sqrt(0.42) + 0.84162 sqrt(0.40))² / 0.04 = 81.2 -> 82 per group.
    assert required_eval_size(0.2, 0.6, paired=False) == 82
    # Paired, Connor (1987) with 20% discordant rows and a difference of 0.1:
    # (1.95996 sqrt(0.2) + 0.84162 sqrt(0.19))² / 0.01 = 154.6 -> 155 rows.
    hand = (Z_975 * math.sqrt(0.2) + Z_80 * math.sqrt(0.19)) ** 2 / 0.01
    assert hand == pytest.approx(154.6, abs=0.05)
    assert required_eval_size(0.1, 0.5, discordance=0.2) == 155
    # Default discordance, independent runs at 0.5 and 0.6: psi = 0.5 * 0.4 + 0.5 * 0.6 = 0.5.
    hand = (Z_975 * math.sqrt(0.5) + Z_80 * math.sqrt(0.49)) ** 2 / 0.01
    assert hand == pytest.approx(390.08, abs=0.005)
    assert required_eval_size(0.1, 0.5) == 391


def test_mde_hand_computed_case() -> None:
    # Closed form for a fixed discordance psi (solve Connor's relation for d):
    # d = sqrt(psi) (za sqrt(n) + zb sqrt(n - za² + zb²)) / (n + zb²).
    n, psi = 155, 0.2
    closed = math.sqrt(psi) * (Z_975 * math.sqrt(n) + Z_80 * math.sqrt(n - Z_975**2 + Z_80**2)) / (n + Z_80**2)
    assert minimum_detectable_difference(n, 0.5, discordance=psi) == pytest.approx(closed, rel=1e-9)
    assert closed == pytest.approx(0.0998, abs=1e-4)


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("baseline", [0.0, 0.05, 0.3, 0.5, 0.8, 0.94])
@pytest.mark.parametrize("n", [20, 150, 1000, 25_000])
def test_mde_and_required_eval_size_are_inverse(n: int, baseline: float, paired: bool) -> None:
    mde = minimum_detectable_difference(n, baseline, paired=paired)
    if math.isinf(mde):
        assert required_eval_size(1 - baseline, baseline, paired=paired) > n
        return
    assert 0 < mde <= 1 - baseline
    assert required_eval_size(mde, baseline, paired=paired) == n
    assert required_eval_size(mde * 0.999, baseline, paired=paired) > n


@settings(max_examples=150, deadline=None)
@given(
    share_of_room=st.floats(0.01, 1.0),
    baseline=st.floats(0.0, 0.95),
    paired=st.booleans(),
    power=st.floats(0.5, 0.95),
)
def test_required_eval_size_then_mde_recovers_the_difference(
    share_of_room: float, baseline: float, paired: bool, power: float
) -> None:
    difference = share_of_room * (1 - baseline)
    n = required_eval_size(difference, baseline, power=power, paired=paired)
    assert minimum_detectable_difference(n, baseline, power=power, paired=paired) <= difference * (1 + 1e-9)
    if n > 1:
        assert minimum_detectable_difference(n - 1, baseline, power=power, paired=paired) > difference


def test_resolution_shrinks_with_more_rows_and_grows_with_power() -> None:
    mdes = [minimum_detectable_difference(n, 0.4) for n in (50, 100, 400, 1600)]
    assert mdes == sorted(mdes, reverse=True)
    # About 1/sqrt(n): four times the rows halves the detectable difference.
    assert mdes[3] / mdes[2] == pytest.approx(0.5, rel=0.05)
    assert minimum_detectable_difference(400, 0.4, power=0.9) > minimum_detectable_difference(400, 0.4)


def test_negative_difference_mirrors_the_baseline() -> None:
    assert required_eval_size(-0.1, 0.7) == required_eval_size(0.1, 0.3)


def test_resolution_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="baseline_rate"):
        required_eval_size(0.1, 1.2)
    with pytest.raises(ValueError, match="outside"):
        required_eval_size(0.2, 0.9)
    with pytest.raises(ValueError, match="non-zero"):
        required_eval_size(0.0, 0.5)
    with pytest.raises(ValueError, match="discordant"):
        required_eval_size(0.3, 0.5, discordance=0.2)
    with pytest.raises(ValueError, match="paired"):
        required_eval_size(0.1, 0.5, paired=False, discordance=0.2)
    with pytest.raises(ValueError, match="n must be"):
        minimum_detectable_difference(0, 0.5)
    assert minimum_detectable_difference(10, 1.0) == math.inf


def test_too_small_to_tell_and_warning() -> None:
    # The hand-built ladder's 150 banking77 rows cannot resolve 5 points near 40%.
    assert too_small_to_tell(150, 0.4, 0.05)
    assert not too_small_to_tell(2000, 0.4, 0.05)
    message = eval_size_warning(150, 0.4, 0.05)
    assert message is not None
    assert "150 eval rows" in message and f"needs {required_eval_size(0.05, 0.4)} rows" in message
    assert eval_size_warning(2000, 0.4, 0.05) is None
