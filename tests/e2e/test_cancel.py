"""A climb is a job: cancelled from another thread in the middle of training, it stops, keeps what it finished
(answers and the training checkpoint), and the same climb run again resumes without repeating a call."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rungwise import ClimbCancelled, ClimbJob, ClimbOptions, ProgressEvent, climb
from rungwise.models.embedded import EmbeddedModel
from rungwise.store import Store

from e2e.test_finetune_rung import EVAL, TOML, TRAIN
from helpers import write_task

pytest.importorskip("torch")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow


def test_cancel_mid_training_then_resume(embedded: EmbeddedModel, tmp_path: Path, tuning_cache: Path) -> None:
    cache = tuning_cache
    folder = write_task(tmp_path / "fruit", TOML, TRAIN, EVAL)
    db = tmp_path / "s.db"
    options = ClimbOptions(rungs=["baseline", "finetune"], all_rungs=True, store_path=db, cache_dir=cache)

    training = threading.Event()
    steps: list[int] = []

    def watch(event: ProgressEvent) -> None:
        if event.stage == "training":
            steps.append(event.done)
            if event.done >= 2:
                training.set()

    job = ClimbJob(folder, embedded, options, progress=watch).start()
    assert training.wait(timeout=300), "training never started"
    job.cancel()
    with pytest.raises(ClimbCancelled):
        job.wait(timeout=120)
    assert job.status == "cancelled"
    total_steps = 24  # 48 rows, batches of 8, 4 epochs
    assert 2 <= steps[-1] < total_steps  # it stopped in the middle of training
    store = Store(db)
    run = store.list_runs()[0]
    assert run.status == "running"  # unfinished, so the next climb resumes it
    assert len(store.done_examples(run.id, "baseline")) == len(EVAL)  # what it finished is kept
    store.close()

    resumed_steps: list[int] = []
    again = climb(folder, embedded, options, progress=lambda e: resumed_steps.append(e.done) if e.stage == "training" else None)
    assert again.run_id == run.id and again.stats.resumed == len(EVAL)
    finetune_rows = sum(v.n for v in again.variants if v.rung == "finetune")
    assert again.stats.calls + again.stats.derived == finetune_rows  # no baseline call repeated
    assert resumed_steps and resumed_steps[0] > 1  # training went on from its checkpoint, not from step 1
    assert {v.name for v in again.variants} >= {"baseline", "finetune", "finetune-constrained"}
