"""A deterministic stand-in for MiniLM, for tests of selection and checks logic."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from rungwise.task.data import fold


class BagOfWordsEmbedder:
    """Deterministic stand-in for MiniLM: hashed bag of words, L2-normalised."""

    model_id = "fake-bow"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in fold(t).split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % 64] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)
