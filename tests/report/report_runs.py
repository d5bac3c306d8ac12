"""Stored runs for the report tests, made cheaply with the fake model: hostile strings in eval inputs and in
model outputs, format and content failures, a rag rung with recall@k and an oracle, an adapter artifact."""

from __future__ import annotations

import json
from pathlib import Path

from rungwise.engine.job import ClimbOptions, ClimbResult, climb
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.record.stored import build_report, save_report
from rungwise.store import Store
from rungwise.task.spec import Task

from helpers import LABEL_TOML_EXACT, write_task

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(1)</script>",
    "<!-- <script>window.__pwned=1</script>",
    "\u2028 line separator \u2029 paragraph separator",
    "<img src=x onerror=\"window.__pwned=1\"><svg onload=alert(1)>",
]
LABELS = ["billing", "technical", "sales"]

LABEL_TOML = LABEL_TOML_EXACT + """[costs]
calls_per_month = 100000
input_price_per_million = 0.5
output_price_per_million = 1.5
"""

QA_TOML = """
name = "qa"
instruction = "Answer."
target = 0.9
[output]
type = "text"
[metric]
name = "token_f1"
[rag]
k = 1
modes = ["bm25"]
context_tokens = 60
[checks]
near_duplicates = false
"""
CORPUS = [
    {"id": "d1", "title": "Paris", "text": "Paris is the capital of France."},
    {"id": "d2", "title": "Berlin", "text": "Berlin is the capital of Germany."},
    {"id": "d3", "title": "Rome", "text": "Rome is the capital of Italy. " + HOSTILE[0]},
]


def label_rows(n: int = 60) -> list[dict[str, str]]:
    """Eval rows; every tenth input carries a hostile string."""
    rows = []
    for i in range(n):
        text = f"ticket {i}: " + (HOSTILE[(i // 10) % len(HOSTILE)] if i % 10 == 3 else f"question number {i}")
        rows.append({"input": text, "target": LABELS[i % 3]})
    return rows


def _row_no(request: Request) -> int:
    return int(request.messages[-1].content.split("ticket ", 1)[1].split(":", 1)[0])


def answer_v1(request: Request) -> str:
    """Right on two rows in three; a hostile string (a format failure) on every seventh."""
    i = _row_no(request)
    if i % 7 == 0:
        return HOSTILE[i % len(HOSTILE)]
    return LABELS[i % 3] if i % 3 != 2 else "billing"


def answer_v2(request: Request) -> str:
    """A second model: right where v1 was wrong on the last third, wrong on a few it got right."""
    i = _row_no(request)
    if i % 11 == 0:
        return "sales" if LABELS[i % 3] != "sales" else "billing"
    return LABELS[i % 3]


def climb_label(tmp_path: Path, db: Path, answer=answer_v1, name: str = "v1", rows: int = 60) -> ClimbResult:
    folder = tmp_path / "route"
    if not folder.exists():
        write_task(folder, LABEL_TOML, [{"input": "The app crashes", "target": "technical"}], label_rows(rows))
    return climb(folder, FakeModel(answer, name=name), ClimbOptions(rungs=["baseline", "prompt"], all_rungs=True,
                                                                   store_path=db))


def climb_qa(tmp_path: Path, db: Path) -> ClimbResult:
    evals = [
        {"input": "What is the capital of Germany?", "target": "Berlin", "doc_id": "d2"},
        {"input": "What is the capital of Italy? " + HOSTILE[1], "target": "Rome", "doc_id": "d3"},
        {"input": "What is the capital of France?", "target": "Paris", "doc_id": "d1"},
    ]
    folder = write_task(tmp_path / "qa", QA_TOML, [{"input": "q", "target": "a"}], evals,
                        {"corpus.jsonl": "".join(json.dumps(r) + "\n" for r in CORPUS)})

    def reader(request: Request) -> str:
        text = request.messages[-1].content
        for city in ("Berlin", "Rome", "Paris"):
            if f"{city} is the capital" in text:
                return f"It is {city}. " + HOSTILE[2]
        return "I do not know " + HOSTILE[5]

    return climb(folder, FakeModel(reader), ClimbOptions(store_path=db, cache_dir=tmp_path / "cache", all_rungs=True))


def add_adapter(db: Path, result: ClimbResult, folder: Path) -> None:
    """Give a run an adapter trained on another base model, and fine-tuning's bill, then store its record again."""
    store = Store(db)
    store.add_artifact(result.run_id, "prompt", "lora-gguf", "adapters/adapter.gguf",
                       {"base_model": "embedded:0123456789abcdef", "train_seconds": 588.0, "examples": 1000,
                        "steps": 125, "train_loss": 0.41, "val_loss": 0.52, "stop_reason": "epochs",
                        "trained_at": "2026-11-20T10:00:00"})
    result.extra["finetune_costs"] = {"prompt": {
        "dataset": 100.0, "training": 0.5, "retraining_per_year": 2.0, "eval_runs_per_month": 0.1,
        "fixed_per_month": 8.6, "calls_per_month": 3.2, "total_per_month": 11.8,
        "break_even_calls_per_month": 45000.0, "reference": "baseline"}}
    result.stored = None  # the record again, from the result as it is now
    save_report(store, build_report(result.record(), store, Task.load(folder).eval_sample()))
    store.close()
