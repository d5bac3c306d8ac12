"""Nearest train rows of an input by embedding: the few-shot rung's kNN selection and the no-LLM kNN label."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rungwise.task.data import Example, fold

#: pool rows at least this similar to the input are treated as its twin and never offered
TWIN_SIMILARITY = 0.97


class KnnSelector:
    """Nearest train rows of each input, the pool embedded once (cached on disk by content hash)."""

    def __init__(self, pool: list[Example], embedder: Any, cache_dir: Any = None) -> None:
        from rungwise.retrieval.embeddings import encode_cached

        self.pool = pool
        self.embedder = embedder
        self.vectors = encode_cached(embedder, [ex.input for ex in pool], cache_dir)
        self.folded = [fold(ex.input) for ex in pool]
        self._memo: dict[tuple[str, int], list[int]] = {}

    def neighbours(self, text: str, k: int) -> list[int]:
        """Pool indices of the k nearest rows to `text`, best first (memoised)."""
        if (text, k) not in self._memo:
            self._memo[(text, k)] = self.select([text], k)[0]
        return self._memo[(text, k)]

    def select(self, inputs: list[str], k: int) -> list[list[int]]:
        from rungwise.retrieval.embeddings import nearest

        q = self.embedder.encode(inputs)
        sims = q @ self.vectors.T
        exclude = sims >= TWIN_SIMILARITY
        folded_q = [fold(t) for t in inputs]
        index: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(self.folded):
            index[f].append(i)
        for row, f in enumerate(folded_q):
            exclude[row, index.get(f, [])] = True
        found = nearest(q, self.vectors, k, exclude=exclude)
        return [[int(i) for i in row if i >= 0] for row in found.indices]
