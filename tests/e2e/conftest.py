from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rungwise.models.embedded import EmbeddedModel, EmbeddedServer


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedModel]:
    """The real embedded model, its llama.cpp server started once for the whole session (the climbs use it
    and leave it running: the model does not own it)."""
    server = EmbeddedServer()
    server.start()
    yield EmbeddedModel(server=server)
    server.stop()



@pytest.fixture
def tuning_cache(tmp_path: Path, hf_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder for one test that shares the session's converted base model (the finetune rung looks for
    it under $RUNGWISE_CACHE_DIR/hf)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(hf_cache_dir, cache / "hf")
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(cache))
    return cache
