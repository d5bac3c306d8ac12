from __future__ import annotations

from pathlib import Path

import pytest

from rungwise.retrieval.embeddings import MiniLMEmbedder, default_embedder


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test writes to the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The real all-MiniLM-L6-v2, loaded once per test session (default_embedder is a per-process singleton)."""
    embedder = default_embedder()
    embedder.encode(["warm up"])
    return embedder
