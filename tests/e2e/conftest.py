from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rungwise.models.embedded import EmbeddedModel


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedModel]:
    """The real embedded model, its llama.cpp server started once for the whole session."""
    model = EmbeddedModel()
    model.server.start()
    model.base_url = model.server.base_url or ""
    yield model
    model.close()


@pytest.fixture(scope="session")
def hf_cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Hugging Face copy of the embedded model, converted once and kept in pytest's cache folder."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("rungwise-hf")) if cache is not None else tmp_path_factory.mktemp("rungwise-hf")
    from rungwise.finetune.base_model import ensure_hf_copy

    ensure_hf_copy(cache_dir=folder)
    return folder
