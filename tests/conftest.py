"""Shared fixtures: small task folders written per test, a temp store, the embedded server once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rungwise.store import Store

from helpers import LABEL_EVAL, LABEL_TOML, LABEL_TRAIN, write_task
from pg_server import PgServer


@pytest.fixture
def label_task(tmp_path: Path) -> Path:
    return write_task(tmp_path / "route", LABEL_TOML, LABEL_TRAIN, LABEL_EVAL)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture(scope="session")
def weights_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded weights in their served format, derived once (~15 s) and kept in pytest's cache folder."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("rungwise-weights")) if cache is not None else tmp_path_factory.mktemp("rungwise-weights")


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights_dir: Path) -> None:
    """Each test gets its own store and cache folders; nothing leaks into the working directory. The derived
    embedded weights are shared by the whole session (they depend on nothing a test changes)."""
    monkeypatch.setenv("RUNGWISE_STORE", str(tmp_path / "default-store.db"))
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RUNGWISE_WEIGHTS_DIR", str(weights_dir))


@pytest.fixture(scope="session")
def hf_cache_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Hugging Face copy of the embedded model, converted once (~25 s) and kept in pytest's cache folder
    (`.pytest_cache/`), so it survives between sessions without touching the user's home."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("rungwise-hf")) if cache is not None else tmp_path_factory.mktemp("rungwise-hf")
    from rungwise.finetune.base_model import ensure_hf_copy

    ensure_hf_copy(cache_dir=folder)
    return folder


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server of its own for the session (tests/pg_server.py: skipped without the binaries, except
    under CI, where it fails)."""
    server = PgServer()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    return pg_server.new_database()
