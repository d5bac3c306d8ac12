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

#: the label task without the near-duplicate check (no embedder loaded): for tests of the model path
LABEL_TOML_EXACT = LABEL_TOML + "[checks]\nnear_duplicates = false\n"

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


ROOT = Path(__file__).resolve().parents[1]


def small_banking77(tmp_path: Path, n: int, train: slice) -> Path:
    """A copy of examples/banking77 with `n` seeded eval rows and the train rows in `train`."""
    from rungwise.task.spec import Task

    src = Task.load(ROOT / "examples" / "banking77")
    rows = [{"input": ex.input, "target": ex.target} for ex in src.eval_sample()[:n]]
    # the near-duplicate check would load MiniLM in every subprocess: these tests are about the model path
    toml = (ROOT / "examples" / "banking77" / "task.toml").read_text().replace(
        'leakage = "drop"', 'leakage = "drop"\nnear_duplicates = false')
    labels = (ROOT / "examples" / "banking77" / "labels.json").read_text()
    pool = [{"input": ex.input, "target": ex.target} for ex in src.train[train]]
    return write_task(tmp_path / "b77", toml, pool, rows, {"labels.json": labels})


def kill_9_after(proc: Any, count: Any, at_least: int, wait_s: float = 240) -> None:
    """Kill `proc` with SIGKILL once `count()` (rows stored so far; it may raise while the store is not made yet)
    reaches `at_least`, and check that it was killed rather than finished."""
    import signal
    import time

    deadline = time.time() + wait_s
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            done = count()
        except Exception:  # noqa: BLE001 - the climb has not made its tables yet
            continue
        if done >= at_least:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the climb finished before it could be killed"
