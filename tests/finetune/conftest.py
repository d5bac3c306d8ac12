"""Fixtures for the fine-tuning tests: the Hugging Face copy of the embedded model, converted once.

The conversion (~25 s) is kept in pytest's cache folder (`.pytest_cache/`), so it survives between
sessions without touching the user's home; with the cache plugin off it lives in the session's tmp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def hf_cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("rungwise-hf")) if cache is not None else tmp_path_factory.mktemp("rungwise-hf")
    from rungwise.finetune.base_model import ensure_hf_copy

    ensure_hf_copy(cache_dir=folder)
    return folder


@pytest.fixture(scope="session")
def tokenizer(hf_cache_dir: Path):  # noqa: ANN201 - a transformers tokenizer
    from rungwise.finetune.base_model import load_tokenizer

    return load_tokenizer(cache_dir=hf_cache_dir)
