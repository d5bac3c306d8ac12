from __future__ import annotations

import pytest

from rungwise.retrieval.fusion import reciprocal_rank_fusion


def test_known_scores_with_k_60() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]]))
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 62)
    assert fused["d"] == pytest.approx(1 / 63)


def test_order_and_limit() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], limit=3)
    assert [item for item, _ in fused] == ["b", "c", "a"]


def test_ties_keep_first_appearance_order() -> None:
    # With k=0: x and z score 1/1 once, y scores 1/2 twice; all three tie at 1.0.
    fused = reciprocal_rank_fusion([["x", "y"], ["z", "y"]], k=0)
    assert fused[0] == ("x", 1.0)
    assert [item for item, _ in fused] == ["x", "y", "z"]  # equal scores keep first-appearance order
    assert dict(fused)["y"] == pytest.approx(1.0)


def test_duplicates_within_a_list_count_once_and_empty_lists() -> None:
    # Ranks are positions in the list as given: 2 sits third.
    assert reciprocal_rank_fusion([[1, 1, 2]], k=1) == [(1, 0.5), (2, 0.25)]
    assert reciprocal_rank_fusion([[], []]) == []
    assert reciprocal_rank_fusion([[], [3]], k=1) == [(3, 0.5)]
