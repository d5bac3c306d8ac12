"""Distillation: the best rung labels inputs nobody labelled, and the short-prompt fine-tune learns from it.

`rungwise distill TASK --teacher VARIANT` is a job in four steps:

    find     the task's finished run (the student's model) and the teacher variant's run (the same run, or one of
             the teacher's model); a missing one is climbed first
    label    the teacher rung's own request builder on the chosen inputs (`distill_inputs`), sent through the
             Runner into a labelling run of their own: answers are cached and an interrupted distill resumes;
             each answer is parsed by the task's output spec and a format failure is dropped (and counted)
    train    the finetune rung's short prompt on (input, the teacher's parsed answer), with the task's LoRA
             settings (cached by content: an interrupted training resumes); the same inputs with human labels
             (`finetune` when the run's adapter was trained on exactly those rows, else `finetune-human`)
    judge    both scored on the run's own eval rows, recorded as variants of the run (`finetune-distilled`, purpose
             `distilled`); paired tests against the human-label fine-tune and the teacher; the teacher's labels
             priced (measured calls x tokens x price) against human ones (rows x `labelled_example_cost`); the
             savings per call and per month against the teacher. The run's stored record is amended, so `report`,
             `show`, `compare` and `--json` show it; the climb's own decision is left as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rungwise.cancel import CancelToken, run_interruptibly
from rungwise.distillation.inputs import DistillInputs, eval_twins, kept_answers, select_inputs, teacher_task
from rungwise.engine.runner import Runner
from rungwise.errors import MissingExtra, TaskError
from rungwise.judge import stats
from rungwise.judge.costs import cost_per_call, price
from rungwise.judge.decide import Comparison
from rungwise.judge.distillation import distill_sentences
from rungwise.judge.summary import VariantSummary, summarize
from rungwise.metrics.scoring import Scored, Scorer
from rungwise.models.base import Message, Model, ModelInfo, Request
from rungwise.models.deadlines import apply_deadlines
from rungwise.models.registry import resolve_model
from rungwise.models.tokens import TokenCounter
from rungwise.paths import cache_root
from rungwise.progress import ProgressEvent, ProgressSink
from rungwise.rungs import RungContext, RungSkipped, SharedResources, Variant, registered, rung_names
from rungwise.rungs.finetune import data_hash, lora_config, short_messages
from rungwise.rungs.prompting import derive_budget
from rungwise.store import ResultRow, RunInfo, Store
from rungwise.task.checks import NEAR_DUPLICATE
from rungwise.task.data import Example
from rungwise.task.spec import Task

__all__ = ["DISTILLED", "HUMAN", "DistillJob", "DistillOptions", "DistillResult", "distill", "distill_sentences"]

#: the student's variant name, and the human-label fine-tune's when the run's `finetune` was trained on other rows
DISTILLED = "finetune-distilled"
HUMAN = "finetune-human"


@dataclass
class DistillOptions:
    """How to distil. `teacher` names a variant of a climb of the task (`fewshot-knn`, `rag-hybrid`, ...)."""

    #: None: the task's `[distill] teacher`
    teacher: str | None = None
    #: inputs to label; None: `[distill] rows`, else the finetune rung's budget (`[finetune] max_examples`)
    rows: int | None = None
    #: the teacher's model ('local', a URL, a Model); None: the student's
    teacher_model: str | Model | None = None
    #: the run to add the student to (an id or prefix); None: the task's latest finished run of the student's model
    run: str | None = None
    store_path: str | Path | None = None
    cache_dir: Path | None = None
    concurrency: int | None = None
    #: seconds to wait for each answer per attempt, and retries, for the student and the teacher; None: the task's
    #: `[model]` values (RUNGWISE_TIMEOUT/RUNGWISE_RETRIES win over those), else the backend's, as for a climb
    timeout_s: float | None = None
    retries: int | None = None


@dataclass
class DistillResult:
    """What a distillation measured; `to_dict()` is what the run's record keeps under `distill`."""

    run_id: str
    labels_run_id: str
    teacher: str
    teacher_run_id: str
    teacher_model: str
    student: str
    human: str
    inputs: dict[str, Any]
    #: the teacher's answers: how many were asked, kept, dropped for their format
    asked: int
    kept: int
    format_failures: int
    #: for withheld train labels: the share of the teacher's answers that agree with the human label
    agreement: float | None
    #: the rows the two adapters trained on (validation rows carved out of the inputs)
    trained_examples: dict[str, int]
    scores: dict[str, float]
    keeps: float | None
    vs_human: dict[str, Any] | None
    vs_teacher: dict[str, Any] | None
    #: the teacher's labels, measured: calls, tokens, cost
    labelling: dict[str, Any]
    human_labelling_cost: float
    per_call: dict[str, Any]
    per_month: dict[str, Any]
    calls_per_month: int
    currency: str
    sentences: list[str] = field(default_factory=list)
    summaries: list[VariantSummary] = field(default_factory=list, repr=False)

    @property
    def kept_share(self) -> float:
        return self.kept / self.asked if self.asked else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in dataclasses.asdict(self).items() if k != "summaries"}
        return {**data, "kept_share": self.kept_share}


def distill(task: Task | str | Path, model: str | Model = "local", options: DistillOptions | None = None, *,
            progress: ProgressSink | None = None) -> DistillResult:
    """Distil `options.teacher` (else the task's `[distill] teacher`) into the short-prompt fine-tune of `model`. See DistillOptions."""
    return DistillJob(task, model, options or DistillOptions(), progress=progress).run()


class DistillJob:
    """One distillation: `run()` it here, `cancel()` it from another thread (calls stop, training stops after its
    current step); run again, it resumes from the cache, the labelling run and the training checkpoint."""

    def __init__(self, task: Task | str | Path, model: str | Model, options: DistillOptions, *,
                 progress: ProgressSink | None = None) -> None:
        self.task = task if isinstance(task, Task) else Task.load(task)
        spec = self.task.spec.distill
        teacher_name = options.teacher or spec.teacher
        if not teacher_name:
            raise TaskError(f"{self.task.folder / 'task.toml'}: no teacher to distil from. Name a variant of the "
                            "task's climb: rungwise distill TASK --teacher fewshot-knn, or [distill] teacher = "
                            "\"fewshot-knn\" in task.toml.")
        self.teacher: str = teacher_name
        self.options = dataclasses.replace(options, teacher=teacher_name, rows=options.rows or spec.rows)
        self.cancel_token = CancelToken()
        self._sink = progress
        self._student = model if isinstance(model, Model) else resolve_model(model)
        teacher = options.teacher_model
        self._teacher = (self._student if teacher is None else teacher if isinstance(teacher, Model)
                         else resolve_model(teacher))
        limits = self.task.spec.model
        for m in {id(self._student): self._student, id(self._teacher): self._teacher}.values():
            apply_deadlines(m, options.timeout_s, options.retries, task_timeout_s=limits.timeout_s,
                            task_retries=limits.retries)

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def _progress(self, event: ProgressEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    # -- find ---------------------------------------------------------------------------------------------
    def run(self) -> DistillResult:
        from rungwise.engine.job import task_hash

        task, options = self.task, self.options
        rung = _rung_of(self.teacher)
        # the inputs first: a bad unlabelled.jsonl is an error before any model starts
        cache_dir = cache_root(options.cache_dir)
        rows = options.rows or task.spec.finetune.max_examples
        resources = SharedResources(progress=self._progress)
        twins = (eval_twins(resources.get_embedder(), cache_dir, NEAR_DUPLICATE)
                 if task.spec.checks.near_duplicates else None)
        chosen = select_inputs(task, rows, twins=twins)
        human = (chosen if chosen.source == "train"  # as many train rows as inputs the teacher labels
                 else select_inputs(task, len(chosen.inputs), source="train", twins=twins))
        student_fp = run_interruptibly(_fingerprint(self._student))
        teacher_fp = student_fp if self._teacher is self._student else run_interruptibly(_fingerprint(self._teacher))
        if teacher_fp == student_fp:  # one model: one server, one run
            self._teacher = self._student
        same_model = self._teacher is self._student
        thash = task_hash(task)
        run: RunInfo | None
        with Store(options.store_path) as store:
            if options.run:
                run = store.get_run(options.run)
                if run.task_name != task.name:
                    raise TaskError(f"Run {run.id} is a run of task {run.task_name!r}, not {task.name!r}.")
            else:
                run = _latest_run(store, task.name, student_fp, thash, self.teacher if same_model else None)
            if run is None:
                self._climb([rung] if same_model else ["baseline"], self._student)
                run = _latest_run(store, task.name, student_fp, thash, self.teacher if same_model else None)
            teacher_run = run if run is not None and self.teacher in _variant_names(store, run.id) else None
            if teacher_run is None and not same_model:
                teacher_run = _latest_run(store, task.name, teacher_fp, thash, self.teacher)
                if teacher_run is None:
                    self._climb([rung], self._teacher)
                    teacher_run = _latest_run(store, task.name, teacher_fp, thash, self.teacher)
        if run is None or teacher_run is None:
            raise TaskError(f"No finished run of {task.name} has the teacher variant {self.teacher!r}; climb "
                            f"with `--rungs {rung} --all` (its variants: see the climb's table), then distil.")
        if run.status != "done" or run.summary is None:
            raise TaskError(f"Run {run.id} is {run.status}: finish it (run the same climb again) before distilling.")
        if run.task_hash != thash:
            raise TaskError(f"{task.folder} changed since run {run.id} (its task.toml, train, eval or corpus): climb "
                            "it again, or name a run of the task as it is now with --run.")
        return run_interruptibly(self._distill(run, teacher_run, cache_dir, chosen, human, resources))

    def _climb(self, rungs: list[str], model: Model) -> None:
        from rungwise.engine.job import ClimbJob, ClimbOptions

        options = ClimbOptions(rungs=rungs, all_rungs=True, store_path=self.options.store_path,
                               cache_dir=self.options.cache_dir, concurrency=self.options.concurrency,
                               early_stop=False, decide=False,  # teacher and students: on every row of the sample
                               timeout_s=self.options.timeout_s, retries=self.options.retries)
        job = ClimbJob(self.task, model, options, progress=self._sink)
        remove = self.cancel_token.on_cancel(job.cancel)
        try:
            job.run()
        finally:
            remove()

    # -- label, train, score ------------------------------------------------------------------------------
    async def _distill(self, run: RunInfo, teacher_run: RunInfo, cache_dir: Path, chosen: DistillInputs,
                       human_inputs: DistillInputs, resources: SharedResources) -> DistillResult:
        with Store(self.options.store_path) as store:
            return await self._in_store(store, run, teacher_run, cache_dir, chosen, human_inputs, resources)

    async def _in_store(self, store: Store, run: RunInfo, teacher_run: RunInfo, cache_dir: Path,
                        chosen: DistillInputs, human_inputs: DistillInputs,
                        resources: SharedResources) -> DistillResult:
        task, options = self.task, self.options
        examples = _eval_rows(task, run, store)
        scorer = Scorer(task)
        served: list[Model] = []
        try:
            info = await self._student.open()
            tuner = self._student.tuner()
            if tuner is None:  # before the teacher spends a call
                raise TaskError(f"{self._student.name} cannot be fine-tuned here; the student of a distillation is the "
                                "finetune rung (the embedded model, with the finetune extra installed).")
            _require_training_extra()
            tinfo = await self._teacher.open()
            labels_run, labelled = await self._label(task, chosen, store, tinfo, resources, cache_dir, served)
            kept, _ = kept_answers(labelled)
            if not kept:
                raise TaskError(f"The teacher {self.teacher!r} answered none of the {len(labelled)} inputs in the "
                                "task's output format: nothing to train on. Pick another teacher.")
            budget = await derive_budget(task, TokenCounter(self._student, conservative=True, calibrated=False).count)
            runner = Runner(store, run.id, scorer, concurrency=options.concurrency, progress=self._progress,
                            cancel=self.cancel_token)
            config = lora_config(task)
            adapters = Path(cache_dir) / "adapters"
            student_rows = [(short_messages(task, ex.input), answer) for ex, answer in kept]
            human_rows = [(short_messages(task, ex.input), ex.target) for ex in human_inputs.inputs]

            def build(ex: Example) -> Request:
                return Request(short_messages(task, ex.input), max_tokens=budget.max_tokens, stop=budget.stop)

            outcomes: dict[str, tuple[list[ResultRow], VariantSummary, dict[str, Any]]] = {}
            human = _reusable_finetune(store, run.id, data_hash(human_rows), config.run_fingerprint())
            todo: list[tuple[str, list[tuple[tuple[Message, ...], str]], str, dict[str, Any]]] = [
                (DISTILLED, student_rows, f"{task.file_stem}-{DISTILLED}",
                 {"teacher": self.teacher, "teacher_model": tinfo.fingerprint, "labels": "teacher",
                  "rows": len(chosen.inputs), "kept": len(kept), "labels_run": labels_run})]
            if human is None:
                # the finetune rung's folder: the same rows and settings reuse the climb's adapter
                todo.append((HUMAN, human_rows, f"{task.file_stem}-finetune",
                             {"labels": "human", "rows": len(human_inputs.inputs)}))
            for name, train_rows, folder, extra in todo:
                self.cancel_token.raise_if_cancelled()
                adapter, meta = tuner.train(train_rows, config, adapters / folder, progress=self._progress,
                                            cancel=self.cancel_token)
                model = tuner.serve(adapter)
                served.append(model)
                variant = Variant(name, "finetune", build, model=model, purpose="distilled",
                                  config={**extra, "adapter": {"path": str(adapter), **meta}},
                                  artifacts=[(name, "lora-gguf", str(adapter), meta)])
                store.record_variant(run.id, name, "finetune", {**variant.config, "probe": True, "purpose": "distilled"})
                store.add_artifact(run.id, name, "lora-gguf", str(adapter), meta)
                await model.open()
                scored = await runner.run(variant, examples, self._student)
                summary = summarize(name, "finetune", scored, binary=scorer.binary, probe=True, kind="training",
                                    purpose="distilled", description=_describe(extra))
                outcomes[name] = (scored, summary, meta)
            if human is not None:
                scored = [r for r in store.results(run.id, human[0]) if r.example_id in {ex.id for ex in examples}]
                summary = summarize(human[0], "finetune", scored, binary=scorer.binary, kind="training")
                outcomes[human[0]] = (scored, summary, human[1])
        finally:
            for m in served:
                await m.aclose()
            await self._teacher.aclose()
            await self._student.aclose()
            scorer.close()
        return self._judge(store, run, teacher_run, info, chosen, labels_run, labelled, kept, outcomes)

    async def _label(self, task: Task, chosen: DistillInputs, store: Store, tinfo: ModelInfo,
                     resources: SharedResources, cache_dir: Path,
                     served: list[Model]) -> tuple[str, list[tuple[Example, ResultRow]]]:
        """The teacher's answers to the chosen inputs, through its rung's own request builder, in a labelling run
        of their own (resumable; answers cached under the teacher's fingerprint)."""
        from rungwise.engine.job import task_hash

        options = self.options
        seen_by_teacher = teacher_task(task, chosen)
        budget = await derive_budget(task, TokenCounter(self._teacher, conservative=True, calibrated=False).count)
        context = RungContext(model=self._teacher, budget=budget, cache_dir=cache_dir, resources=resources,
                              progress=self._progress, cancel=self.cancel_token)
        name = _rung_of(self.teacher)
        rung = next(cls for cls in registered() if cls.name == name)()
        try:
            variants = rung.prepare(seen_by_teacher, context)
        except RungSkipped as why:
            raise TaskError(f"The teacher's rung {rung.name!r} does not apply to this task: {why}") from None
        finally:
            served.extend(m for m in resources.owned_models if m not in served)
        variant = next((v for v in variants if v.name == self.teacher), None)
        if variant is None:
            raise TaskError(f"The rung {rung.name!r} has no variant {self.teacher!r} for this task; it has: "
                            f"{', '.join(v.name for v in variants)}.")
        if variant.build is None:
            raise TaskError(f"{self.teacher!r} answers without a model (a reference): it cannot teach. Pick a "
                            "variant that calls a model.")
        served.extend(m for m in {id(v.model): v.model for v in variants if v.model is not None}.values()
                      if m not in served)
        if variant.model is not None:
            await variant.model.open()
        variant = dataclasses.replace(variant, name=f"labels:{variant.name}")  # its progress bar and stored rows
        ids = hashlib.sha256(json.dumps(sorted(chosen.ids)).encode()).hexdigest()[:16]
        settings = {"distill": {"teacher": self.teacher, "rows": len(chosen.inputs), "source": chosen.source,
                                "inputs": ids}}
        labels_run = store.claim_run(task.name, str(task.folder), task_hash(task), tinfo.fingerprint, settings)
        labeller = Runner(store, labels_run, _LabelScorer(task), concurrency=options.concurrency,
                          progress=self._progress, cancel=self.cancel_token)
        answers = await labeller.run(variant, chosen.inputs, self._teacher)
        labelled = list(zip(chosen.inputs, answers, strict=True))
        store.finish_run(labels_run, {"task": task.name, "distill_labels": {
            "teacher": self.teacher, "asked": len(answers), "kept": len(kept_answers(labelled)[0]),
            **chosen.to_dict()}})
        return labels_run, labelled

    # -- judge --------------------------------------------------------------------------------------------
    def _judge(self, store: Store, run: RunInfo, teacher_run: RunInfo, info: ModelInfo, chosen: DistillInputs,
               labels_run: str, labelled: list[tuple[Example, ResultRow]], kept: list[tuple[Example, str]],
               outcomes: dict[str, tuple[list[ResultRow], VariantSummary, dict[str, Any]]]) -> DistillResult:
        from rungwise.record.stored import amend_record

        task = self.task
        costs = task.spec.costs
        teacher_rows = {r.example_id: r for r in store.results(teacher_run.id, self.teacher)}
        student_rows, student, student_meta = outcomes[DISTILLED]
        human = next(name for name in outcomes if name != DISTILLED)
        human_rows, human_summary, human_meta = outcomes[human]
        vs_human = _paired(human, human_rows, DISTILLED, student_rows)
        vs_teacher = _paired(self.teacher, list(teacher_rows.values()), DISTILLED, student_rows)
        common = [r for r in student_rows if r.example_id in teacher_rows]
        teacher_score = _mean([teacher_rows[r.example_id].score for r in common])
        student_on_common = _mean([r.score for r in common])
        teacher_tokens = (_mean([teacher_rows[r.example_id].prompt_tokens for r in common]),
                          _mean([teacher_rows[r.example_id].completion_tokens for r in common]))
        teacher_call = cost_per_call(*teacher_tokens, costs)
        student_call = cost_per_call(student.mean_prompt_tokens, student.mean_completion_tokens, costs)
        answers = [row for _, row in labelled]
        prompt_tokens = sum(r.prompt_tokens for r in answers)
        completion_tokens = sum(r.completion_tokens for r in answers)
        labelling = {"calls": len(answers), "from_cache": sum(r.from_cache for r in answers),
                     "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "mean_prompt_tokens": prompt_tokens / len(answers) if answers else 0.0,
                     "cost": cost_per_call(prompt_tokens, completion_tokens, costs)}
        agreement = (_mean([r.score for r in answers]) if chosen.source == "train" and answers else None)
        result = DistillResult(
            run_id=run.id, labels_run_id=labels_run, teacher=self.teacher, teacher_run_id=teacher_run.id,
            teacher_model=teacher_run.model, student=DISTILLED, human=human, inputs=chosen.to_dict(),
            asked=len(answers), kept=len(kept), format_failures=sum(r.failure == "format" for r in answers),
            agreement=agreement,
            trained_examples={DISTILLED: int(student_meta.get("examples") or 0),
                              human: int(human_meta.get("examples") or 0)},
            scores={DISTILLED: student.score, human: human_summary.score, self.teacher: teacher_score},
            keeps=student_on_common / teacher_score if teacher_score else None,
            vs_human=dataclasses.asdict(vs_human) if vs_human else None,
            vs_teacher=dataclasses.asdict(vs_teacher) if vs_teacher else None,
            labelling=labelling, human_labelling_cost=len(chosen.inputs) * costs.labelled_example_cost,
            per_call={"teacher": teacher_call, "student": student_call, "saving": teacher_call - student_call,
                      "teacher_prompt_tokens": teacher_tokens[0], "student_prompt_tokens": student.mean_prompt_tokens},
            per_month={"teacher": teacher_call * costs.calls_per_month, "student": student_call * costs.calls_per_month,
                       "saving": (teacher_call - student_call) * costs.calls_per_month},
            calls_per_month=costs.calls_per_month, currency=costs.currency,
            summaries=[outcomes[n][1] for n in outcomes if n != human or human == HUMAN],
        )
        result.sentences = distill_sentences(result.to_dict())
        amend_record(store, run.id, result.summaries, {s.name: price(s.name, s.mean_prompt_tokens,
                                                                     s.mean_completion_tokens, costs).to_dict()
                                                       for s in result.summaries},
                     result.to_dict())
        return result


class _LabelScorer(Scorer):
    """The task's parser for the teacher's answers: a format failure is dropped; an unlabelled input has no
    reference, so a well-formed answer scores 1; a withheld train label is scored as the metric would (agreement)."""

    def _scored(self, answer: str, example: Example, parsed: str) -> Scored:
        if example.meta.get("unlabelled"):
            return Scored(1.0, None, parsed)
        return super()._scored(answer, example, parsed)


def _require_training_extra() -> None:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise MissingExtra("torch and peft", "finetune") from None


async def _fingerprint(model: Model) -> str:
    try:
        return (await model.open()).fingerprint
    finally:
        await model.aclose()


def _rung_of(variant: str) -> str:
    """The rung a variant belongs to: the longest rung name it starts with (`fewshot-knn` is fewshot's)."""
    names = sorted(rung_names(), key=len, reverse=True)
    found = next((r for r in names if variant == r or variant.startswith(f"{r}-")), None)
    if found is None:
        raise TaskError(f"--teacher {variant!r} names no variant of a rung ({', '.join(rung_names())}); name one "
                        "from the climb's table, e.g. fewshot-knn.")
    if found == "finetune" and variant in (DISTILLED, HUMAN):
        raise TaskError(f"{variant!r} is distillation's own variant; pick a teacher from the ladder.")
    return found


def _variant_names(store: Store, run_id: str) -> set[str]:
    return {v for v, _, _ in store.variants(run_id)}


def _latest_run(store: Store, task: str, model: str, thash: str, teacher: str | None) -> RunInfo | None:
    """The task's latest finished climb on `model` (labelling runs aside), of the task as it is now; with
    `teacher`, one that scored that variant."""
    for info in store.list_runs(200, task=task, status="done"):
        if info.model != model or info.task_hash != thash or "distill" in info.settings or info.summary is None:
            continue
        if teacher is None or teacher in _variant_names(store, info.id):
            return info
    return None


def _eval_rows(task: Task, run: RunInfo, store: Store) -> list[Example]:
    """The eval rows the run scored, in its order (read from its stored record)."""
    from rungwise.record.stored import load_report

    by_id = {ex.id: ex for ex in task.eval}
    ids = [r.id for r in load_report(store, run.id).rows]
    missing = [i for i in ids if i not in by_id]
    if missing or not ids:
        raise TaskError(f"Run {run.id} scored eval rows the task no longer has ({', '.join(missing[:3])}): climb "
                        "the task again, then distil.")
    return [by_id[i] for i in ids]


def _reusable_finetune(store: Store, run_id: str, dhash: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The run's `finetune` when its adapter was trained on exactly these rows with these settings."""
    for a in store.artifacts(run_id):
        meta = a["meta"]
        if a["name"] == "finetune" and meta.get("data_hash") == dhash and meta.get("config") == config:
            return "finetune", meta
    return None


def _paired(a: str, rows_a: list[ResultRow], b: str, rows_b: list[ResultRow]) -> Comparison | None:
    test = stats.compare_rows({r.example_id: r.score for r in rows_a}, {r.example_id: r.score for r in rows_b},
                              minimum=2)
    return Comparison.of(a, b, test) if test is not None else None


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _describe(extra: dict[str, Any]) -> str:
    if extra.get("labels") == "teacher":
        return (f"the short-prompt fine-tune on {extra['kept']:,} of {extra['rows']:,} inputs labelled by "
                f"{extra['teacher']}")
    return f"the short-prompt fine-tune on the same {extra['rows']:,} inputs with human labels"


