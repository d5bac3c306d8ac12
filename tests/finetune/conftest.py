"""Fixtures for the fine-tuning tests (the converted base model, `hf_cache_dir`, lives in tests/conftest.py).

The conversion (~25 s) is kept in pytest's cache folder (`.pytest_cache/`), so it survives between
sessions without touching the user's home; with the cache plugin off it lives in the session's tmp dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tokenizer(hf_cache_dir: Path):  # noqa: ANN201 - a transformers tokenizer
    from rungwise.finetune.base_model import load_tokenizer

    return load_tokenizer(cache_dir=hf_cache_dir)
