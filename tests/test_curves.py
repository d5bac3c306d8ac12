"""The learning-curve logic on synthetic data: the fit, rows to target with its interval, the flat case, the
labelling cost and the honest check."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rungwise.judge.curves import (
    HORIZON,
    CurveFit,
    curve_sizes,
    fit_curve,
    geometric_sizes,
    holdout_check,
    learning_curve,
    nested_subset,
    rows_to_target,
)

SIZES = [100, 300, 1000]


def sampled(curve: CurveFit, sizes: list[int], rows: int, seed: int = 1) -> np.ndarray:
    """Pass/fail rows drawn at each size with the curve's probability."""
    rng = np.random.default_rng(seed)
    return np.array([(rng.random(rows) < curve.predict(n)).astype(float) for n in sizes])


def test_noiseless_curve_is_recovered() -> None:
    true = CurveFit(0.9, 3.0, 0.5)
    sizes = [50, 200, 800, 3200]
    fit = fit_curve(sizes, [true.predict(n) for n in sizes])
    assert fit.a == pytest.approx(0.9, abs=0.01)
    assert fit.c == pytest.approx(0.5, rel=0.05)
    assert fit.rows_for(0.85) == pytest.approx(true.rows_for(0.85), rel=0.1)


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0.3, 1.0), b=st.floats(0.0, 5.0), c=st.floats(0.1, 1.5))
def test_fit_passes_through_noiseless_points(a: float, b: float, c: float) -> None:
    true = CurveFit(a, b, c)
    sizes = [30, 100, 300, 1000]
    assume(true.predict(sizes[0]) >= 0)  # scores are never below 0: the family holds inside [0, 1]
    scores = [float(true.predict(n)) for n in sizes]
    fit = fit_curve(sizes, scores)
    assert np.max(np.abs(fit.predict(sizes) - np.array(scores))) < 0.02


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=5))
def test_fit_respects_its_bounds(scores: list[float]) -> None:
    sizes = [10 * 3 ** i for i in range(len(scores))]
    fit = fit_curve(sizes, scores)
    assert 0.0 <= fit.a <= 1.0
    assert fit.b >= 0.0
    assert 0.05 <= fit.c <= 2.0
    # non-decreasing in rows: more data never predicts a lower score
    grid = np.geomspace(1, 1e6, 50)
    assert np.all(np.diff(fit.predict(grid)) >= -1e-12)


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0.5, 1.0), b=st.floats(0.1, 5.0), c=st.floats(0.1, 1.5),
       t1=st.floats(0.0, 1.0), t2=st.floats(0.0, 1.0))
def test_rows_for_a_higher_target_are_never_fewer(a: float, b: float, c: float, t1: float, t2: float) -> None:
    fit = CurveFit(a, b, c)
    lo, hi = sorted((t1, t2))
    assert fit.rows_for(lo) <= fit.rows_for(hi)
    if hi < a:
        assert fit.predict(fit.rows_for(hi)) == pytest.approx(hi, abs=1e-6)


def test_rows_to_target_verdicts() -> None:
    fit = CurveFit(0.9, 3.0, 0.5)  # 0.8 at 900 rows, 0.85 at 3,600
    assert rows_to_target(fit, 0.8, 1000)[1] == "reached"
    rows, verdict = rows_to_target(fit, 0.85, 1000)
    assert verdict == "extrapolated" and rows == pytest.approx(3600)
    assert rows_to_target(fit, 0.89, 1000)[1] == "beyond"  # 90,000 rows: past 10x
    rows, verdict = rows_to_target(fit, 0.95, 1000)
    assert verdict == "plateau" and math.isinf(rows)


def test_a_curve_below_the_target_says_more_data_will_not_do() -> None:
    rows = sampled(CurveFit(0.45, 0.0, 0.5), SIZES, 300)
    curve = learning_curve("finetune", SIZES, rows, 0.85, labelled_example_cost=0.1)
    assert curve.verdict in ("plateau", "beyond")
    assert curve.rows is None and curve.cost is None
    assert curve.flattens_at < 0.6
    assert "more data will not" in curve.sentence() or "within 10x" in curve.sentence()


def test_rows_to_target_with_interval_and_labelling_cost() -> None:
    true = CurveFit(0.95, 2.0, 0.5)  # 0.9 at 1,600 rows
    rows = sampled(true, SIZES, 2000)
    curve = learning_curve("finetune", SIZES, rows, 0.9, labelled_example_cost=0.1, currency="EUR")
    assert curve.verdict == "extrapolated"
    assert curve.rows is not None and 1000 < curve.rows < 6000
    assert curve.rows_low is not None and curve.rows_low <= curve.rows
    assert curve.rows_high is None or curve.rows_high >= curve.rows
    assert curve.cost == pytest.approx(curve.rows * 0.1)
    text = curve.sentence("fine-tuning")
    assert text.startswith("fine-tuning would need about") and "EUR of labelling" in text and "90%" in text
    # measured points carry their own intervals
    assert all(lo <= s <= hi for lo, s, hi in zip(curve.lows, curve.scores, curve.highs, strict=True))
    # the band covers the fit and reaches 10x the data
    assert curve.band_sizes[-1] == pytest.approx(HORIZON * 1000)
    assert all(lo - 1e-9 <= m <= hi + 1e-9 for lo, m, hi in zip(curve.band_low, curve.band_mid, curve.band_high, strict=True))
    d = curve.to_dict()
    assert d["fit"]["a"] == curve.fit.a and d["sentence"] == curve.sentence() and d["check"]["size"] == 1000


def test_the_interval_is_seeded_and_paired() -> None:
    rows = sampled(CurveFit(0.95, 2.0, 0.5), SIZES, 300)
    one = learning_curve("x", SIZES, rows, 0.9, seed=3)
    two = learning_curve("x", SIZES, rows, 0.9, seed=3)
    assert (one.rows_low, one.rows_high, one.band_low) == (two.rows_low, two.rows_high, two.band_low)
    # identical rows at every size: every replicate is flat, so the band collapses onto the measured score
    flat = np.tile(rows[:1], (3, 1))
    curve = learning_curve("x", SIZES, flat, 0.99)
    assert curve.fit.b == pytest.approx(0.0, abs=1e-9)
    assert max(h - lo for lo, h in zip(curve.band_low, curve.band_high, strict=True)) < 0.2


def test_a_target_already_met_is_reached() -> None:
    rows = sampled(CurveFit(0.95, 2.0, 0.5), SIZES, 1000)
    curve = learning_curve("fewshot-knn", SIZES, rows, 0.5)
    assert curve.verdict == "reached" and curve.rows is not None and curve.rows <= 1000
    assert "reaches 50%" in curve.sentence()


def test_a_flat_curve_above_the_target_is_reached_at_once() -> None:
    rows = np.ones((3, 50))
    curve = learning_curve("fewshot-knn", SIZES, rows, 0.9)
    assert curve.verdict == "reached" and curve.rows == 0.0
    assert curve.sentence() == "'fewshot-knn' already reaches 90% with the fewest rows measured (100)."


def test_sizes_may_come_in_any_order() -> None:
    rows = sampled(CurveFit(0.95, 2.0, 0.5), SIZES, 400)
    a = learning_curve("x", SIZES, rows, 0.9)
    b = learning_curve("x", SIZES[::-1], rows[::-1], 0.9)
    assert a.sizes == b.sizes == SIZES and a.scores == b.scores and a.fit == b.fit


def test_holdout_check_predicts_the_largest_size() -> None:
    true = CurveFit(0.9, 3.0, 0.5)
    check = holdout_check(SIZES, [true.predict(n) for n in SIZES])
    assert check is not None and check.fitted_on == [100, 300] and check.size == 1000
    # two sizes assume c = 0.5, which is the truth here: the prediction is exact
    assert check.error == pytest.approx(0.0, abs=1e-9)
    off = holdout_check(SIZES, [CurveFit(0.9, 1.0, 0.2).predict(n) for n in SIZES])
    assert off is not None and abs(off.error) > 0.01  # a wrong exponent shows as an error, reported
    assert holdout_check([100, 300], [0.5, 0.6]) is None


@settings(max_examples=50, deadline=None)
@given(pool=st.integers(1, 400), a=st.integers(0, 400), b=st.integers(0, 400), seed=st.integers(0, 10))
def test_each_subset_is_part_of_every_larger_one(pool: int, a: int, b: int, seed: int) -> None:
    rows = list(range(pool))
    small, large = nested_subset(rows, min(a, b), seed), nested_subset(rows, max(a, b), seed)
    assert set(small) <= set(large)
    assert len(large) == min(max(a, b), pool) and large == sorted(large)  # pool order kept


def test_curve_sizes_leave_out_the_full_pool() -> None:
    assert curve_sizes(None, 1000) == [111, 333]
    assert curve_sizes([50, 2000, 1000, 50], 1000) == [50]
    assert curve_sizes(None, 1) == []


def test_geometric_sizes() -> None:
    assert geometric_sizes(1000) == [111, 333, 1000]
    assert geometric_sizes(8000, 3, 2.0) == [2000, 4000, 8000]
    assert geometric_sizes(2) == [1, 2]


@pytest.mark.parametrize("sizes, scores", [([100], [0.5]), ([100, 100], [0.5, 0.6]), ([0, 10], [0.1, 0.2]),
                                           ([1, 2, 3], [0.1, 0.2])])
def test_bad_input_is_refused(sizes: list[int], scores: list[float]) -> None:
    with pytest.raises(ValueError):
        fit_curve(sizes, scores)


def test_a_curve_climb_is_its_own_run(tmp_path: Path) -> None:
    """`--curve` is part of a run's identity: an unfinished plain run is not resumed by a curve climb (which would
    mix curve points into it), and a plain climb still resumes it."""
    from rungwise.engine.job import ClimbOptions, climb
    from rungwise.models.fake import FakeModel
    from rungwise.store import Store

    from helpers import LABEL_TOML_EXACT, write_task

    train = [{"input": f"train message {i}", "target": "billing"} for i in range(4)]
    rows = [{"input": f"eval message {i}", "target": "billing"} for i in range(4)]
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, train, rows)
    store = tmp_path / "s.db"
    plain = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=store))
    with Store(store) as s:  # as if the plain climb had been interrupted
        s.finish_run(plain.run_id, {}, status="running")
    curve = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=store, curve=True))
    assert curve.run_id != plain.run_id
    again = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=store))
    assert again.run_id == plain.run_id
