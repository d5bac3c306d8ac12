"""A dense index: passage embeddings searched by cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rungwise.retrieval.embeddings import Embedder, nearest

Hits = list[tuple[int, float]]


class DenseIndex:
    """`search(query, k) -> [(passage_index, cosine), ...]`, best first (the same API as BM25Index)."""

    def __init__(self, vectors: np.ndarray, embedder: Embedder):
        if vectors.ndim != 2 or vectors.shape[0] == 0:
            raise ValueError(f"expected a non-empty (n, dim) matrix, got shape {vectors.shape}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.embedder = embedder

    @classmethod
    def build(cls, texts: Sequence[str], embedder: Embedder) -> DenseIndex:
        return cls(embedder.encode(texts), embedder)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def search(self, query: str, k: int = 10) -> Hits:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10) -> list[Hits]:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if len(queries) == 0:
            return []
        found = nearest(self.embedder.encode(queries), self.vectors, k)
        return [[(int(i), float(s)) for i, s in zip(row_i, row_s)] for row_i, row_s in zip(found.indices, found.scores)]

    def save(self, path: Path | str) -> None:
        """Write the vectors as one .npy file."""
        with open(path, "wb") as f:
            np.save(f, self.vectors, allow_pickle=False)

    @classmethod
    def load(cls, path: Path | str, embedder: Embedder) -> DenseIndex:
        return cls(np.load(path, allow_pickle=False), embedder)
