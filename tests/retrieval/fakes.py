"""A deterministic stand-in for the MiniLM embedder, for tests of pure logic (caching, fusion plumbing)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np


class FakeEmbedder:
    """Bag of hashed words in 64 dimensions, L2-normalised; counts what it is asked to encode."""

    dim = 64

    def __init__(self, model_id: str = "fake-bow-64"):
        self._model_id = model_id
        self.calls = 0
        self.texts_encoded = 0

    @property
    def model_id(self) -> str:
        return self._model_id

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)
