"""Dense retrieval with the real all-MiniLM-L6-v2 (loaded once per session by the `minilm` fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rungwise.retrieval.dense import DenseIndex
from rungwise.retrieval.embeddings import MiniLMEmbedder

SENTENCES = [
    "The cat is sleeping on the warm windowsill.",
    "Interest rates were raised by the central bank this morning.",
    "My new debit card has not been delivered yet.",
    "The recipe needs two cups of flour and an egg.",
    "The football match was cancelled because of heavy rain.",
]


def test_paraphrase_ranks_first(minilm: MiniLMEmbedder) -> None:
    index = DenseIndex.build(SENTENCES, minilm)
    # Paraphrases that share almost no content words with their target.
    assert index.search("I'm still waiting for my bank card to arrive", k=3)[0][0] == 2
    assert index.search("A kitten naps in the sun by the window", k=3)[0][0] == 0
    assert index.search("The game was called off due to the storm", k=3)[0][0] == 4


def test_scores_are_cosines_best_first(minilm: MiniLMEmbedder) -> None:
    index = DenseIndex.build(SENTENCES, minilm)
    hits = index.search(SENTENCES[3], k=5)
    assert hits[0][0] == 3
    assert abs(hits[0][1] - 1.0) < 1e-4
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in scores)


def test_round_trip_through_disk(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    index = DenseIndex.build(SENTENCES, minilm)
    index.save(tmp_path / "dense.npy")
    loaded = DenseIndex.load(tmp_path / "dense.npy", minilm)
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    assert loaded.search_batch(["flour"], k=1) == index.search_batch(["flour"], k=1)
