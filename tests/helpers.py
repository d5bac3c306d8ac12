"""Shared test helpers: small task folders written per test. (Not in conftest.py: a second conftest module in
tests/finetune would shadow `from conftest import ...`.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
