from __future__ import annotations

from pathlib import Path

import pytest

from rungwise.retrieval.bm25 import BM25Index, tokenize

PASSAGES = [
    "The Panthers defense gave up just 308 points, ranking sixth in the league.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The Rhine flows from the Swiss Alps to the North Sea through Germany.",
    "A card replacement takes five working days to arrive by post.",
]


def test_tokenize_drops_stopwords_and_lowercases() -> None:
    assert tokenize(["The Rhine and THE Alps"]) == [["rhine", "alps"]]


def test_obvious_match_ranks_first() -> None:
    index = BM25Index.build(PASSAGES)
    assert index.search("Which sea does the Rhine flow into?", k=2)[0][0] == 2
    assert index.search("how does photosynthesis store energy", k=4)[0][0] == 1
    hits = index.search("points the defense gave up", k=4)
    assert hits[0][0] == 0
    assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))


def test_unmatched_query_returns_nothing_and_k_is_capped() -> None:
    index = BM25Index.build(PASSAGES)
    assert index.search("zebra xylophone", k=3) == []
    assert index.search("the and of", k=3) == []  # only stopwords
    assert len(index.search("the card energy Rhine points", k=50)) == 4


def test_batch_matches_single_and_round_trips_through_disk(tmp_path: Path) -> None:
    index = BM25Index.build(PASSAGES)
    queries = ["Rhine sea", "card arrive", "glucose"]
    batch = index.search_batch(queries, k=2)
    assert batch == [index.search(q, k=2) for q in queries]
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert len(loaded) == 4
    assert loaded.search_batch(queries, k=2) == batch


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        BM25Index.build([])
    with pytest.raises(ValueError):
        BM25Index.build(PASSAGES).search("x", k=0)
    assert BM25Index.build(PASSAGES).search_batch([], k=3) == []
