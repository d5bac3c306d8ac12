"""Distillation with the real embedded model and the real tuner, on the tiny fruit task: the kNN few-shot rung
labels train inputs whose labels are withheld, the short-prompt fine-tune learns its answers, and the run's
record shows the student beside the fine-tune on human labels."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from rungwise.distillation.job import DISTILLED, HUMAN, DistillOptions, distill
from rungwise.models.embedded import EmbeddedModel
from rungwise.record.stored import load_report
from rungwise.report.html import render_climb
from rungwise.report.terminal import print_climb
from rungwise.rungs.finetune import data_hash, short_messages
from rungwise.store import Store
from rungwise.task.spec import Task

from e2e.test_finetune_rung import EVAL, TOML, TRAIN
from helpers import write_task

pytest.importorskip("torch")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow

#: kNN few-shot only (the teacher); two epochs over at most 24 labelled inputs keep both trainings to seconds
TINY = TOML.replace("epochs = 4", "epochs = 2") + '[fewshot]\nk = 3\nselection = ["knn"]\n'


def test_distill_fewshot_into_the_short_prompt(embedded: EmbeddedModel, tmp_path: Path, tuning_cache: Path) -> None:
    folder = write_task(tmp_path / "fruit", TINY, TRAIN, EVAL)
    db = tmp_path / "s.db"
    # no run yet: distill climbs the teacher's rung first, then labels 24 train inputs with their labels withheld
    result = distill(folder, embedded, DistillOptions(teacher="fewshot-knn", rows=24, store_path=db,
                                                      cache_dir=tuning_cache))
    task = Task.load(folder)
    assert result.asked == 24 and result.kept + result.format_failures == 24 and result.kept > 0
    assert result.inputs["source"] == "train" and result.human == HUMAN  # the run had no fine-tune to reuse
    with Store(db) as store:
        answers = store.results(result.labels_run_id)
        adapters = {a["name"]: a["meta"] for a in store.artifacts(result.run_id)}
        variants = {v for v, _, _ in store.variants(result.run_id)}
        record = load_report(store, result.run_id)
    # the student trained on the teacher's parsed answers, in input order, not on the withheld human labels
    by_id = {ex.id: ex for ex in task.train}
    taught = [(short_messages(task, by_id[r.example_id].input), r.parsed) for r in answers
              if r.failure != "format" and r.parsed is not None]
    human = [(short_messages(task, by_id[r.example_id].input), by_id[r.example_id].target) for r in answers]
    assert len(taught) == result.kept and adapters[DISTILLED]["data_hash"] == data_hash(taught)
    assert adapters[HUMAN]["data_hash"] == data_hash(human)
    if any(parsed != target for (_, parsed), (_, target) in zip(taught, human, strict=False)):
        assert adapters[DISTILLED]["data_hash"] != adapters[HUMAN]["data_hash"]
    # the teacher agreed with the withheld labels as often as its answers say
    assert result.agreement == pytest.approx(sum(r.score for r in answers) / 24)
    # scored on the run's own eval rows, beside the teacher, with its figures recorded
    assert {"fewshot-knn", DISTILLED, HUMAN} <= variants
    assert len(record.variants[DISTILLED].score) == len(record.rows) == len(EVAL)
    d = record.result.distill or {}
    assert d["vs_human"]["a"] == HUMAN and d["vs_teacher"]["a"] == "fewshot-knn"
    assert d["labelling"]["calls"] == 24 and d["labelling"]["prompt_tokens"] > 0
    assert d["per_call"]["student_prompt_tokens"] < d["per_call"]["teacher_prompt_tokens"]
    summary = record.result.variant(DISTILLED)
    assert summary is not None and summary.purpose == "distilled" and summary.n == len(EVAL)
    # the terminal summary and the HTML report show it
    out = io.StringIO()
    print_climb(record.result, Console(file=out, width=200))
    text = out.getvalue()
    assert f"{DISTILLED} (distilled)" in text and "distillation (fewshot-knn -> finetune-distilled" in text
    assert "human labels for the same 24 rows" in text
    page = render_climb(record)
    assert 'id="distill"' in page and DISTILLED in page

    # run again: every answer from the cache, both adapters reused, nothing labelled twice
    again = distill(folder, embedded, DistillOptions(teacher="fewshot-knn", rows=24, store_path=db,
                                                     cache_dir=tuning_cache))
    assert again.labelling["from_cache"] == 24 and again.scores == result.scores
