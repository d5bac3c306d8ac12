"""Which inputs a teacher labels for distillation, and the guard that keeps the eval out of them.

The inputs come from `unlabelled.jsonl` in the task folder when there is one (rows of `{"input": ...}`, an `id`
optional), else from train, whose labels are then withheld: the teacher never sees them (its few-shot pool is
train without them) and the student never trains on them. Either way the guard is the few-shot pool's, and
more: an input equal to an eval input after folding case and punctuation, or a near twin of one (MiniLM cosine at
or above `checks.NEAR_DUPLICATE`, whatever its label), is never labelled nor trained on.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rungwise.errors import DataError, TaskError
from rungwise.store import ResultRow
from rungwise.task.data import Example, fold, iter_jsonl, row_id
from rungwise.task.spec import Task

__all__ = ["UNLABELLED", "DistillInputs", "eval_twins", "kept_answers", "read_unlabelled", "select_inputs", "teacher_task"]

#: the optional file of inputs nobody has labelled, in a task folder
UNLABELLED = "unlabelled.jsonl"

Source = Literal["unlabelled", "train"]
#: finds, among candidate inputs, the indexes of those that are near twins of eval inputs
TwinFinder = Callable[[Sequence[str], Sequence[str]], set[int]]


@dataclass(frozen=True)
class DistillInputs:
    """The inputs chosen for the teacher to label, and what the guard left out."""

    source: Source
    #: in file order; `target` is the withheld human label (train) or "" (unlabelled)
    inputs: list[Example]
    #: candidate rows before the guard
    candidates: int
    #: left out: equal to an eval input after folding
    excluded_exact: int
    #: left out: a near twin of an eval input (embedding similarity)
    excluded_near: int
    #: left out: repeating an earlier candidate's input (after folding)
    excluded_duplicates: int

    @property
    def ids(self) -> set[str]:
        return {ex.id for ex in self.inputs}

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows": len(self.inputs), "candidates": self.candidates,
                "excluded_exact": self.excluded_exact, "excluded_near": self.excluded_near,
                "excluded_duplicates": self.excluded_duplicates}


def read_unlabelled(path: Path) -> list[Example]:
    """The rows of an unlabelled.jsonl: `input` (a string) and an optional `id`; other fields are kept as meta.
    Every problem names the file, the line and the field."""
    rows: list[Example] = []
    seen: dict[str, int] = {}
    for number, obj in iter_jsonl(path):
        if "input" not in obj:
            raise DataError(path, 'missing; every row needs "input" (the text to label)', line=number, field="input")
        text = obj["input"]
        if not isinstance(text, str):
            raise DataError(path, f"expected a string, got {type(text).__name__}", line=number, field="input")
        if not text.strip():
            raise DataError(path, "empty; remove the row or give it the text to label", line=number, field="input")
        if "target" in obj:
            raise DataError(path, "an unlabelled row has no target: move labelled rows to train.jsonl",
                            line=number, field="target")
        ex_id = row_id(path, number, obj, "unlabelled", seen)
        meta = {k: v for k, v in obj.items() if k not in ("input", "id")}
        rows.append(Example(id=ex_id, input=text, target="", meta={**meta, "unlabelled": True}))
    if not rows:
        raise DataError(path, 'has no rows; add one JSON object per line with "input", or remove the file to '
                        "label train inputs instead")
    return rows


def eval_twins(embedder: Any, cache_dir: Path | None, threshold: float) -> TwinFinder:
    """A TwinFinder by embedding cosine (vectors cached by text, as the checks cache them)."""

    def find(candidates: Sequence[str], eval_inputs: Sequence[str]) -> set[int]:
        import numpy as np

        from rungwise.retrieval.embeddings import encode_cached

        if not candidates or not eval_inputs:
            return set()
        cand = encode_cached(embedder, list(candidates), cache_dir)
        ev = encode_cached(embedder, list(eval_inputs), cache_dir)
        found: set[int] = set()
        for start in range(0, len(cand), 512):
            sims = cand[start : start + 512] @ ev.T
            found |= {start + int(i) for i in np.flatnonzero(sims.max(axis=1) >= threshold)}
        return found

    return find


def select_inputs(task: Task, rows: int, *, source: Source | None = None, twins: TwinFinder | None = None,
                  seed: int | None = None) -> DistillInputs:
    """Up to `rows` inputs for the teacher: from unlabelled.jsonl when the task folder has one (or `source` says
    so), else train's; never an eval input after folding nor (with `twins`) a near twin of one; repeated inputs
    once. More candidates than `rows`: a seeded sample (the task's seed), kept in file order, drawn as the
    finetune rung draws its pool, so the same candidates give the same rows."""
    if rows < 1:
        raise TaskError(f"--rows must be at least 1, not {rows}.")
    path = task.folder / UNLABELLED
    chosen: Source = source or ("unlabelled" if path.is_file() else "train")
    if chosen == "unlabelled":
        candidates = read_unlabelled(path)
    else:
        if not task.train:
            raise TaskError(f"{task.folder}: nothing to label. Add {UNLABELLED} (one {{\"input\": ...}} per line) or "
                            "train.jsonl, whose labels are then withheld from the student.")
        candidates = list(task.train)
    eval_folded = {fold(ex.input) for ex in task.eval}
    exact = [ex for ex in candidates if fold(ex.input) in eval_folded]
    pool = [ex for ex in candidates if fold(ex.input) not in eval_folded]
    near: set[int] = twins([ex.input for ex in pool], [ex.input for ex in task.eval]) if twins is not None else set()
    kept: list[Example] = []
    seen: set[str] = set()
    duplicates = 0
    for i, ex in enumerate(pool):
        if i in near:
            continue
        key = fold(ex.input)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        kept.append(ex)
    if not kept:
        where = path if chosen == "unlabelled" else task.folder / "train.jsonl"
        raise TaskError(f"{where}: every input is an eval input or a near twin of one ({len(exact)} exact, "
                        f"{len(near)} near): nothing is left to label without leaking the eval.")
    if len(kept) > rows:
        rng = random.Random(task.spec.eval.seed if seed is None else seed)
        kept = [kept[i] for i in sorted(rng.sample(range(len(kept)), rows))]
    return DistillInputs(chosen, kept, len(candidates), len(exact), len(near), duplicates)


def teacher_task(task: Task, chosen: DistillInputs) -> Task:
    """The task as the teacher sees it: withheld train rows, and every train row with the same input after
    folding (a repeat would carry the label), leave its pool, so it never sees a label it is asked for; inputs from
    unlabelled.jsonl leave the task as it is."""
    if chosen.source != "train":
        return task
    withheld = {fold(ex.input) for ex in chosen.inputs}
    return dataclasses.replace(task, train=[ex for ex in task.train if fold(ex.input) not in withheld])


def kept_answers(labelled: Sequence[tuple[Example, ResultRow]]) -> tuple[list[tuple[Example, str]], int]:
    """The (input, parsed answer) pairs a student trains on, and how many answers were dropped: an answer that
    breaks the output format (or that the server failed) teaches nothing."""
    kept = [(ex, row.parsed) for ex, row in labelled
            if row.failure not in ("format", "server") and row.parsed is not None]
    return kept, len(labelled) - len(kept)
