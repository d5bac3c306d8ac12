from __future__ import annotations

import pytest

from rungwise.retrieval.metrics import doc_ids, mrr, recall_at_k

RETRIEVED = [["a", "b", "c"], ["x", "y", "z"], ["p", "q", "r"]]
GOLD = [{"b"}, {"z", "w"}, {"nope"}]


def test_recall_at_k_known_values() -> None:
    assert recall_at_k(RETRIEVED, GOLD, 1) == pytest.approx(0.0)
    assert recall_at_k(RETRIEVED, GOLD, 2) == pytest.approx((1 + 0 + 0) / 3)
    assert recall_at_k(RETRIEVED, GOLD, 3) == pytest.approx((1 + 0.5 + 0) / 3)
    assert recall_at_k(RETRIEVED, GOLD, 10) == recall_at_k(RETRIEVED, GOLD, 3)


def test_mrr_known_values() -> None:
    assert mrr(RETRIEVED, GOLD) == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)
    assert mrr(RETRIEVED, GOLD, k=2) == pytest.approx((1 / 2) / 3)
    assert mrr([["a", "a", "b"]], [{"b"}]) == pytest.approx(1 / 3)  # ranks are positions in the list as given


def test_doc_ids_dedupes_keeping_best_rank() -> None:
    assert doc_ids(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]
    assert doc_ids(["d2", "d2"], dedupe=False) == ["d2", "d2"]


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="no gold"):
        recall_at_k([["a"]], [set()], 1)
    with pytest.raises(ValueError, match="retrieved lists"):
        mrr([["a"]], [{"a"}, {"b"}])
    with pytest.raises(TypeError, match="pass a set"):
        recall_at_k([["a"]], ["a"], 1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no queries"):
        mrr([], [])
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k([["a"]], [{"a"}], 0)
