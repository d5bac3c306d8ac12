"""Distillation's logic on fakes: which inputs a teacher may label (never an eval input nor a near twin of one),
unlabelled.jsonl's errors, format failures dropped and counted, and the whole job with a fake tuner (the real
tuner and model: tests/e2e/test_distill_e2e.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from rungwise.distillation.inputs import eval_twins, kept_answers, read_unlabelled, select_inputs, teacher_task
from rungwise.distillation.job import DISTILLED, HUMAN, DistillOptions, _LabelScorer, distill
from rungwise.errors import DataError, TaskError
from rungwise.models.base import Message, Model, Request
from rungwise.models.fake import FakeModel
from rungwise.record.stored import load_report
from rungwise.report.html import render_climb
from rungwise.report.terminal import print_climb
from rungwise.rungs.finetune import data_hash, short_messages
from rungwise.store import ResultRow, Store
from rungwise.task.data import Example
from rungwise.task.spec import Task

from helpers import LABEL_EVAL, LABEL_TOML_EXACT, write_task
from retrieval.fakes import FakeEmbedder

TRAIN = [
    {"input": "I was charged twice", "target": "billing"},
    {"input": "The app crashes", "target": "technical"},
    {"input": "Discount for 50 seats?", "target": "sales"},
    {"input": "Refund my last invoice", "target": "billing"},
    {"input": "extra fee on my invoice!", "target": "billing"},  # the first eval input, folded
    {"input": "Cannot reset my password please", "target": "technical"},  # a near twin of the second
    {"input": "The app crashes", "target": "technical"},  # a repeat
    {"input": "Login page is blank", "target": "technical"},
    {"input": "Quote for 10 licences", "target": "sales"},
    {"input": "Why is my bill so high", "target": "billing"},
]


def _task(tmp_path: Path, train: list[dict[str, Any]] | None = None, extra: dict[str, str] | None = None,
          toml: str = LABEL_TOML_EXACT) -> Task:
    return Task.load(write_task(tmp_path / "t", toml, TRAIN if train is None else train, LABEL_EVAL, extra))


def _twins(threshold: float = 0.8) -> Any:
    return eval_twins(FakeEmbedder(), None, threshold)


# -- which inputs --------------------------------------------------------------------------------------------
def test_train_inputs_leave_out_eval_inputs_near_twins_and_repeats(tmp_path: Path) -> None:
    task = _task(tmp_path)
    chosen = select_inputs(task, 100, twins=_twins())
    texts = [ex.input for ex in chosen.inputs]
    assert chosen.source == "train" and chosen.candidates == 10
    assert "extra fee on my invoice!" not in texts and chosen.excluded_exact == 1
    assert "Cannot reset my password please" not in texts and chosen.excluded_near == 1
    assert texts.count("The app crashes") == 1 and chosen.excluded_duplicates == 1
    assert len(texts) == 7 and all(ex.target for ex in chosen.inputs)  # the human labels travel, withheld
    # without a twin finder only exact matches are left out
    assert "Cannot reset my password please" in [ex.input for ex in select_inputs(task, 100).inputs]


def test_a_sample_is_seeded_in_file_order_and_nested_in_the_pool(tmp_path: Path) -> None:
    task = _task(tmp_path)
    a, b = select_inputs(task, 3, twins=_twins()), select_inputs(task, 3, twins=_twins())
    every = [ex.id for ex in select_inputs(task, 100, twins=_twins()).inputs]
    assert [ex.id for ex in a.inputs] == [ex.id for ex in b.inputs] and len(a.inputs) == 3
    assert [i for i in every if i in a.ids] == [ex.id for ex in a.inputs]


def test_the_teacher_never_sees_the_labels_it_is_asked_for(tmp_path: Path) -> None:
    task = _task(tmp_path)
    chosen = select_inputs(task, 3, twins=_twins())
    seen = teacher_task(task, chosen)
    assert not chosen.ids & {ex.id for ex in seen.train} and len(seen.train) == len(task.train) - 3
    # a repeat of a withheld input would carry its label: it leaves the pool too
    every = select_inputs(task, 100)
    assert "The app crashes" not in [ex.input for ex in teacher_task(task, every).train]
    assert seen.eval == task.eval and len(task.train) == 10  # the caller's task is unchanged


def test_unlabelled_file_is_preferred_and_guarded(tmp_path: Path) -> None:
    rows = [{"input": "Where is my refund"}, {"id": 7, "input": "Price for the enterprise plan?"},
            {"input": "App freezes on start", "channel": "chat"}]
    task = _task(tmp_path, extra={"unlabelled.jsonl": "".join(json.dumps(r) + "\n" for r in rows)})
    chosen = select_inputs(task, 100, twins=_twins())
    assert chosen.source == "unlabelled" and chosen.excluded_exact == 1  # the third eval input, folded
    assert [ex.id for ex in chosen.inputs] == ["unlabelled:L1", "unlabelled:L3"]
    assert all(ex.target == "" and ex.meta["unlabelled"] for ex in chosen.inputs)
    assert chosen.inputs[1].meta["channel"] == "chat"
    assert teacher_task(task, chosen) is task  # the teacher keeps its whole pool
    assert select_inputs(task, 100, source="train").source == "train"


@pytest.mark.parametrize(("line", "field", "words"), [
    ('{"text": "hi"}', "input", "every row needs \"input\""),
    ('{"input": 3}', "input", "expected a string, got int"),
    ('{"input": "  "}', "input", "empty"),
    ('{"input": "hi", "target": "billing"}', "target", "move labelled rows to train.jsonl"),
    ('{"input": "hi", "id": [1]}', "id", "a string or an integer"),
    ('{"input": "hi", "id": 1}', "id", "duplicate id 1 (first on line 1)"),
])
def test_unlabelled_errors_name_file_line_and_field(tmp_path: Path, line: str, field: str, words: str) -> None:
    path = tmp_path / "unlabelled.jsonl"
    path.write_text('{"input": "first", "id": 1}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_unlabelled(path)
    assert str(err.value).startswith(f"{path}, line 2, field '{field}': ") and words in str(err.value)


def test_unlabelled_bad_json_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "unlabelled.jsonl"
    path.write_text('{"input": "ok"}\n{broken\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"unlabelled.jsonl, line 2: not valid JSON"):
        read_unlabelled(path)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="has no rows"):
        read_unlabelled(path)


def test_nothing_left_to_label_says_why(tmp_path: Path) -> None:
    task = _task(tmp_path, train=[{"input": "Extra fee on my invoice", "target": "billing"}])
    with pytest.raises(TaskError, match="every input is an eval input or a near twin of one"):
        select_inputs(task, 10)
    with pytest.raises(TaskError, match="at least 1"):
        select_inputs(task, 0)


# -- the teacher's answers -----------------------------------------------------------------------------------
def _row(ex: Example, scorer: _LabelScorer, text: str) -> ResultRow:
    s = scorer.score(text, ex)
    return ResultRow("t", ex.id, text, s.parsed, s.score, s.failure, 10, 1, 0, 0.0, False, {})


def test_format_failures_are_dropped_and_counted(tmp_path: Path) -> None:
    task = _task(tmp_path)
    scorer = _LabelScorer(task)
    train = Example("train:L1", "I was charged twice", "billing")
    unlabelled = Example("unlabelled:L1", "Where is my refund", "", {"unlabelled": True})
    labelled = [(train, _row(train, scorer, "Label: billing")), (train, _row(train, scorer, "sales")),
                (unlabelled, _row(unlabelled, scorer, "billing.")), (unlabelled, _row(unlabelled, scorer, "no idea")),
                (unlabelled, ResultRow("t", unlabelled.id, "[server failure]", None, 0.0, "server", 0, 0, 0, 0.0,
                                       False, {}))]
    kept, dropped = kept_answers(labelled)
    assert [answer for _, answer in kept] == ["billing", "sales", "billing"] and dropped == 2
    # a withheld label scores the teacher's agreement; an unlabelled input has no reference: well-formed is 1
    assert [r.score for _, r in labelled[:4]] == [1.0, 0.0, 1.0, 0.0]
    assert labelled[1][1].failure == "content" and labelled[3][1].failure == "format"


# -- the whole job, with a fake tuner --------------------------------------------------------------------------
class _Tuner:
    base_fingerprint = "fake:base"

    def __init__(self) -> None:
        self.trained: dict[str, list[tuple[tuple[Message, ...], str]]] = {}

    def train(self, rows: list[tuple[tuple[Message, ...], str]], config: Any, folder: Path, *, progress: Any = None,
              cancel: Any = None) -> tuple[Path, dict[str, Any]]:
        self.trained[folder.name] = rows
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "adapter.gguf").write_text("fake")
        return folder / "adapter.gguf", {"base_model": self.base_fingerprint, "data_hash": data_hash(rows),
                                         "config": config.run_fingerprint(), "examples": len(rows),
                                         "train_seconds": 1.0}

    def serve(self, adapter: Path) -> Model:
        return FakeModel(lambda r: "billing", name="tuned")


class _Tunable(FakeModel):
    def __init__(self, respond: Any) -> None:
        super().__init__(respond)
        self.the_tuner = _Tuner()

    def tuner(self) -> _Tuner:
        return self.the_tuner


def _teacher(request: Request) -> str:
    text = request.messages[-1].content.lower()
    if "app" in text or "login" in text:
        return "technical"
    if "licence" in text or "seats" in text:
        return "sales"
    if "invoice" in text or "bill" in text or "charged" in text:
        return "I am not sure"
    return "billing"


FIXED = LABEL_TOML_EXACT + 'leakage = "drop"\n[fewshot]\nk = 1\nselection = ["fixed"]\n[costs]\ncalls_per_month = 1000\n' \
    'input_price_per_million = 1.0\nlabelled_example_cost = 0.5\n'


def test_distill_with_a_fake_tuner_records_the_student_beside_the_human_labels(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", FIXED, TRAIN, LABEL_EVAL)
    task = Task.load(folder)
    model = _Tunable(_teacher)
    db = tmp_path / "s.db"
    result = distill(folder, model, DistillOptions(teacher="fewshot-fixed", rows=6, store_path=db,
                                                   cache_dir=tmp_path / "cache"))
    # questions about invoices and bills are answered out of the label set: dropped and counted
    chosen = select_inputs(task, 6)
    unsure = sum(1 for ex in chosen.inputs if _teacher(Request((Message("user", ex.input),))) == "I am not sure")
    assert unsure >= 1 and (result.asked, result.kept, result.format_failures) == (6, 6 - unsure, unsure)
    assert result.kept_share == (6 - unsure) / 6
    trained = model.the_tuner.trained
    student, human = trained[f"route-{DISTILLED}"], trained["route-finetune"]
    with Store(db) as store:
        answers = {r.example_id: r for r in store.results(result.labels_run_id)}
        record = load_report(store, result.run_id)
    by_input = {ex.input: ex for ex in task.train}
    # the student's rows are the teacher's parsed answers; the human fine-tune's the withheld labels
    assert [t for _, t in student] == [answers[by_input[m[0].content.split("\n\n", 1)[1]].id].parsed for m, _ in student]
    assert len(student) == 6 - unsure and len(human) == 6 and result.human == HUMAN
    assert [t for _, t in human] == [ex.target for ex in chosen.inputs]
    assert all(msgs == short_messages(task, by_input[msgs[0].content.split("\n\n", 1)[1]].input) for msgs, _ in student)
    # labelling priced from measured tokens; human labels from the task's cost per row
    assert result.labelling["calls"] == 6 and result.labelling["prompt_tokens"] > 0
    assert result.labelling["cost"] == pytest.approx(result.labelling["prompt_tokens"] / 1e6)
    assert result.human_labelling_cost == pytest.approx(3.0)
    assert result.per_month["saving"] == pytest.approx(result.per_call["saving"] * 1000)
    assert result.vs_teacher is not None and result.vs_teacher["a"] == "fewshot-fixed"
    assert result.agreement == pytest.approx(sum(r.score for r in answers.values()) / 6) and result.agreement < 1
    # the run's record: both new variants, the distill section, shown in the terminal and the HTML
    names = [v.name for v in record.result.variants]
    assert names[-2:] == [DISTILLED, HUMAN] and "fewshot-fixed" in names
    assert record.result.distill and record.result.distill["kept"] == 6 - unsure
    assert record.result.decision and record.result.shipped == record.result.decision.shipped  # left as it was
    out = io.StringIO()
    print_climb(record.result, Console(file=out, width=200))
    assert f"{DISTILLED} (distilled)" in out.getvalue()
    assert f"{6 - unsure} kept ({(6 - unsure) / 6:.1%}), {unsure} dropped for their format" in out.getvalue()
    assert 'id="distill"' in render_climb(record)

    # again: the labels come from the cache (a new labelling run), the results are kept
    calls = len(model.calls)
    again = distill(folder, model, DistillOptions(teacher="fewshot-fixed", rows=6, store_path=db,
                                                  cache_dir=tmp_path / "cache"))
    assert len(model.calls) == calls and again.labelling["from_cache"] == 6 and again.scores == result.scores


def test_the_run_finetune_is_reused_when_it_trained_on_the_same_rows(tmp_path: Path) -> None:
    from rungwise.engine.job import ClimbOptions, climb

    train = [r for r in TRAIN if r["input"] not in ("extra fee on my invoice!", "The app crashes")]
    toml = FIXED + '[finetune]\nmax_examples = 4\n[distill]\nteacher = "fewshot-fixed"\n'
    folder = write_task(tmp_path / "t", toml, train, LABEL_EVAL)
    model = _Tunable(_teacher)
    db = tmp_path / "s.db"
    climb(folder, model, ClimbOptions(rungs=["fewshot", "finetune"], all_rungs=True, store_path=db,
                                      cache_dir=tmp_path / "cache"))
    # the teacher from task.toml's [distill]; the rows from [finetune] max_examples
    result = distill(folder, model, DistillOptions(store_path=db, cache_dir=tmp_path / "cache"))
    assert result.teacher == "fewshot-fixed" and result.human == "finetune" and result.inputs["rows"] == 4
    with Store(db) as store:
        assert HUMAN not in {v for v, _, _ in store.variants(result.run_id)}


def test_a_teacher_that_is_no_variant_is_one_clear_error(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", FIXED, TRAIN, LABEL_EVAL)
    with pytest.raises(TaskError, match=r"task.toml: no teacher to distil from.*--teacher fewshot-knn"):
        distill(folder, FakeModel(), DistillOptions(store_path=tmp_path / "s.db"))
    with pytest.raises(TaskError, match="names no variant of a rung"):
        distill(folder, FakeModel(), DistillOptions(teacher="nope", store_path=tmp_path / "s.db"))
    with pytest.raises(TaskError, match="cannot be fine-tuned here"):
        distill(folder, FakeModel(_teacher), DistillOptions(teacher="fewshot-fixed", rows=2,
                                                           store_path=tmp_path / "s.db", cache_dir=tmp_path / "c"))


def test_cli_distill_errors_are_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = write_task(tmp_path / "t", FIXED, TRAIN, LABEL_EVAL)
    (folder / "unlabelled.jsonl").write_text('{"input": "fine"}\n{"input": 5}\n', encoding="utf-8")
    args = [sys.executable, "-m", "rungwise", "distill", str(folder), "--model", "fake", "--store", str(tmp_path / "s.db")]
    proc = subprocess.run([*args, "--teacher", "nope"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "names no variant of a rung" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([*args, "--teacher", "fewshot-fixed"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unlabelled.jsonl, line 2, field 'input': expected a string" in proc.stderr


def test_an_interrupted_labelling_resumes_without_repeating_a_call(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", FIXED, TRAIN, LABEL_EVAL)
    db, cache = tmp_path / "s.db", tmp_path / "cache"
    from rungwise.engine.job import ClimbOptions, climb

    climb(folder, FakeModel(_teacher), ClimbOptions(rungs=["fewshot"], all_rungs=True, store_path=db, cache_dir=cache))
    asked: list[str] = []

    def flaky(request: Request) -> str:
        asked.append(request.messages[-1].content)
        if len(asked) > 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the labelling
        return _teacher(request)

    with pytest.raises(KeyboardInterrupt):
        distill(folder, _Tunable(flaky), DistillOptions(teacher="fewshot-fixed", rows=6, store_path=db, cache_dir=cache))
    with Store(db) as store:
        [interrupted] = store.list_runs(task="route", status="running")
        assert "distill" in interrupted.settings and len(store.results(interrupted.id)) == 3
    model = _Tunable(_teacher)
    result = distill(folder, model, DistillOptions(teacher="fewshot-fixed", rows=6, store_path=db, cache_dir=cache))
    assert result.labels_run_id == interrupted.id and result.asked == 6
    labelling_calls = [r for r in model.calls if len(r.messages) > 1]  # few-shot requests; the student's are short
    assert len(labelling_calls) == 3 and not {r.messages[-1].content for r in labelling_calls} & set(asked[:3])


def test_the_tasks_deadlines_apply_to_the_student_and_the_teacher(tmp_path: Path) -> None:
    """As a climb does, a distillation gives its models the task's [model] timeout_s/retries; its options win."""
    from rungwise.distillation.job import DistillJob

    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT + "[model]\ntimeout_s = 3\nretries = 0\n", TRAIN, LABEL_EVAL)
    seen: list[tuple[str, float | None, int | None]] = []

    class Recording(FakeModel):
        def set_deadlines(self, timeout_s: float | None = None, retries: int | None = None) -> None:
            seen.append((self._name, timeout_s, retries))

    DistillJob(folder, Recording(name="student"), DistillOptions(teacher="fewshot-knn", teacher_model=Recording(name="teacher")))
    assert seen == [("student", 3.0, 0), ("teacher", 3.0, 0)]
    seen.clear()
    DistillJob(folder, Recording(name="student"), DistillOptions(teacher="fewshot-knn", retries=2))
    assert seen == [("student", 3.0, 2)]  # a teacher that is the student is given them once
