"""A BM25 index over passages, on bm25s (sparse-matrix scoring); English stopwords, no stemming."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

Hits = list[tuple[int, float]]


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased word tokens of two or more characters, English stopwords removed."""
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)  # type: ignore[no-any-return,unused-ignore]


class BM25Index:
    """`search(query, k) -> [(passage_index, score), ...]`, best first; passages that share no term are left out."""

    def __init__(self, retriever: Any, size: int):
        self._retriever = retriever
        self._size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> BM25Index:
        import bm25s

        if len(texts) == 0:
            raise ValueError("cannot build a BM25 index over no passages")
        retriever = bm25s.BM25()
        retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, len(texts))

    def __len__(self) -> int:
        return self._size

    def search(self, query: str, k: int = 10) -> Hits:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[Hits]:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if len(queries) == 0:
            return []
        k = min(k, self._size)
        docs, scores = self._retriever.retrieve(tokenize(queries), k=k, show_progress=False)
        return [_positive(d, s) for d, s in zip(docs, scores)]

    def save(self, folder: Path | str) -> None:
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path | str) -> BM25Index:
        import bm25s

        retriever = bm25s.BM25.load(str(folder), show_progress=False)
        return cls(retriever, int(retriever.scores["num_docs"]))


def _positive(indices: np.ndarray, scores: np.ndarray) -> Hits:
    return [(int(i), float(s)) for i, s in zip(indices, scores) if s > 0]
