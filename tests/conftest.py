"""Shared fixtures: small task folders written per test, a temp store, the embedded server once per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rungwise.store import Store

LABELS = ["billing", "technical", "sales"]


def write_task(folder: Path, toml: str, train: list[dict[str, Any]] | None, eval_rows: list[dict[str, Any]],
               extra: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.toml").write_text(toml, encoding="utf-8")
    if train is not None:
        (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train), encoding="utf-8")
    (folder / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in eval_rows), encoding="utf-8")
    for name, text in (extra or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


LABEL_TOML = """
name = "route"
instruction = "Which team?"
target = 0.8
[output]
type = "label"
labels = ["billing", "technical", "sales"]
"""

LABEL_TRAIN = [
    {"input": "I was charged twice", "target": "billing"},
    {"input": "The app crashes", "target": "technical"},
    {"input": "Discount for 50 seats?", "target": "sales"},
    {"input": "Refund my last invoice", "target": "billing"},
]
LABEL_EVAL = [
    {"input": "Extra fee on my invoice", "target": "billing"},
    {"input": "Cannot reset my password", "target": "technical"},
    {"input": "Price for the enterprise plan", "target": "sales"},
]


@pytest.fixture
def label_task(tmp_path: Path) -> Path:
    return write_task(tmp_path / "route", LABEL_TOML, LABEL_TRAIN, LABEL_EVAL)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own store and cache folders; nothing leaks into the working directory."""
    monkeypatch.setenv("RUNGWISE_STORE", str(tmp_path / "default-store.db"))
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / "cache"))
