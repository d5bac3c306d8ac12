"""Climb the ladder on a task's held-out eval set: score each rung, stop at the first that meets the target.

A climb is a job (`ClimbJob`) in three steps:

    plan    the task checked (leakage first), the model opened once (`ModelInfo`), the rungs from the registry
    run     each rung prepares its variants; each variant is scored by the Runner (cache, resume, progress)
    judge   the outcomes (scores, rows, artifacts) into a Decision, prices and fine-tuning's bill

`climb()` runs one in the calling thread; `ClimbJob(...).start()` runs it in the background, where it can be
polled (`status`, `progress`) and cancelled (`cancel()`: calls stop, training stops after its current step).
What a cancelled climb finished is stored: the same climb run again resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rungwise.cancel import CancelToken, run_interruptibly
from rungwise.engine.estimate import Estimate, estimate_search, estimate_variant
from rungwise.engine.options import ClimbOptions, NotSet
from rungwise.engine.runner import Runner, RunStats
from rungwise.errors import ClimbCancelled, TaskError
from rungwise.judge import early_stop, sequential
from rungwise.judge.costs import FinetuneCost, RungCost, finetune_cost, price
from rungwise.judge.curves import LearningCurve, learning_curve
from rungwise.judge.decide import Decision, decide, kind_of, lead_of
from rungwise.judge.summary import VariantSummary, summarize
from rungwise.metrics.scoring import Scorer
from rungwise.models.base import Completion, Model, ModelInfo, Request
from rungwise.models.deadlines import apply_deadlines
from rungwise.models.embedded import EmbeddedModel
from rungwise.models.registry import resolve_model
from rungwise.models.tokens import TokenCounter
from rungwise.outputs import finite
from rungwise.paths import cache_root
from rungwise.progress import ProgressEvent, ProgressSink
from rungwise.record.schema import ClimbRecord
from rungwise.rungs import Rung, RungContext, RungSkipped, SharedResources, Variant, ladder, rung_names
from rungwise.rungs.constrained import why_unconstrained
from rungwise.rungs.finetune import is_stale
from rungwise.rungs.prompting import derive_budget
from rungwise.store import ResultRow, Store
from rungwise.task.checks import CheckReport, drop_leaked, exact_leaks, run_checks
from rungwise.task.data import Example
from rungwise.task.spec import Task

__all__ = ["ClimbJob", "ClimbOptions", "ClimbResult", "VariantOutcome", "checked_task", "climb", "task_hash"]

Status = Literal["pending", "running", "done", "cancelled", "failed"]


@dataclass
class VariantOutcome:
    """What one variant measured: its summary, its per-row results (in eval order) and its artifacts."""

    variant: Variant
    summary: VariantSummary
    rows: list[ResultRow]
    #: artifacts it stands on: its own, or (for a constrained twin) those of the variant it constrains
    artifacts: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class ClimbResult:
    run_id: str
    task: str
    model: str
    target: float
    metric: str
    n_eval: int
    variants: list[VariantSummary]
    skipped: dict[str, str]
    recommendation: str
    shipped: str | None
    budget: dict[str, Any]
    stats: RunStats = field(default_factory=RunStats)
    costs: dict[str, RungCost] = field(default_factory=dict)
    decision: Decision | None = None
    checks: CheckReport | None = None
    estimates: list[Estimate] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: the model as it was opened: fingerprint, served model, capabilities
    model_info: ModelInfo | None = None
    #: learning curves (`LearningCurve.to_dict()`), one per variant scored on smaller pools (climb --curve)
    curves: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[VariantOutcome] = field(default_factory=list, repr=False)
    #: the record the climb stored (None for a dry run, or before it is stored)
    stored: ClimbRecord | None = field(default=None, repr=False)

    def adapters(self) -> dict[str, list[dict[str, Any]]]:
        """Per variant, the adapters it stands on: name, kind, path and meta (base model, training time, rows)."""
        return {o.summary.name: [{"name": n, "kind": k, "path": p, "meta": m} for n, k, p, m in o.artifacts]
                for o in self.outcomes if o.artifacts}

    def record(self) -> ClimbRecord:
        """The typed record of this result: what the store keeps and every renderer reads (the stored one, once
        the climb has stored it, so that what a climb prints is what `rungwise show` prints again)."""
        return self.stored if self.stored is not None else ClimbRecord.model_validate(finite(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        adapters = self.adapters()
        info = self.model_info
        return {
            "run_id": self.run_id, "task": self.task, "model": self.model, "target": self.target,
            "metric": self.metric, "n_eval": self.n_eval, "shipped": self.shipped,
            "recommendation": self.recommendation, "budget": self.budget, "skipped": self.skipped,
            "variants": [{**v.to_dict(), "cost": self.costs[v.name].to_dict() if v.name in self.costs else None,
                          "adapters": adapters.get(v.name, [])}
                         for v in self.variants],
            "decision": self.decision.to_dict() if self.decision else None,
            "checks": self.checks.to_dict() if self.checks else None,
            "estimates": [e.to_dict() for e in self.estimates],
            "calls": self.stats.calls, "cache_hits": self.stats.cache_hits, "resumed": self.stats.resumed,
            "derived": self.stats.derived,
            "served_model": info.served_model if info else None,
            "server_kind": info.server_kind if info else None,
            "capabilities": info.capabilities.to_dict() if info else None,
            "server_failures": self.stats.server_failures,
            **({"curves": self.curves} if self.curves else {}),
            **self.extra,
        }


def task_hash(task: Task) -> str:
    h = hashlib.sha256()
    for name in ("task.toml", "train.jsonl", "eval.jsonl", "corpus.jsonl"):
        path = task.folder / name
        if path.is_file():
            h.update(name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:20]


def _selected(options: ClimbOptions) -> list[str]:
    names = rung_names()
    if not options.rungs:
        return names
    unknown = [r for r in options.rungs if r not in names]
    if unknown:
        raise TaskError(f"Unknown rung {unknown[0]!r}. Rungs: {', '.join(names)}.")
    return [r for r in names if r in options.rungs]


def checked_task(task: Task, options: ClimbOptions, report: CheckReport) -> Task:
    """Apply the leakage policy: stop (a TaskError), drop the leaked eval rows, or carry on with a warning."""
    policy = task.spec.checks.leakage if isinstance(options.leakage, NotSet) else options.leakage
    if not report.leaked or policy == "warn":
        return task
    if policy == "drop":
        return drop_leaked(task, report.leaked)
    first = next(f for f in report.errors if f.code.startswith("leakage"))
    raise TaskError(
        f"{task.folder / 'eval.jsonl'}: {len(report.leaked)} eval rows leak from train ({first.message}; e.g. "
        f"{', '.join(first.rows[:3])}). Fix the split, or climb with --leakage drop (score without them) "
        "or --leakage warn (keep them), or set [checks] leakage in task.toml."
    )


def with_finetune_base(task: Task, options: ClimbOptions) -> Task:
    """`task` with the options' base weights and accelerate config in its [finetune] (they win over task.toml)."""
    update: dict[str, Any] = {}
    if options.base_weights is not None:
        update["base_weights"] = str(options.base_weights.resolve())
    if options.accelerate_config is not None:
        update.update(accelerate_config=str(options.accelerate_config.resolve()), launcher="accelerate")
    if not update:
        return task
    spec = task.spec.model_copy(update={"finetune": task.spec.finetune.model_copy(update=update)})
    return dataclasses.replace(task, spec=spec)


def climb(
    task: Task | str | Path,
    model: str | Model | None = None,
    options: ClimbOptions | None = None,
    *,
    progress: ProgressSink | None = None,
) -> ClimbResult:
    """Climb the ladder on `task` with `model` ('local', a URL, or a Model; None: the task's `[[models]]` entry
    when it lists one, else 'local'). A task that lists several models is climbed with `climb_models`. The
    task's `[model] timeout_s`/`retries` apply unless `options` sets them. See ClimbOptions."""
    return ClimbJob(task, model, options, progress=progress).run()


class ClimbJob:
    """One climb you can run, poll and cancel. Thread-safe: `cancel()` and `status` from any thread."""

    def __init__(self, task: Task | str | Path, model: str | Model | None = None, options: ClimbOptions | None = None,
                 *, progress: ProgressSink | None = None) -> None:
        self.task = task if isinstance(task, Task) else Task.load(task)
        self.options = options or ClimbOptions()
        self._choice: Any = None  # the task's one [[models]] entry, when no model is given
        if model is None:
            self.task, self._choice = _task_choice(self.task)
        self._model_spec: str | Model = model or "local"
        self.cancel_token = CancelToken()
        self.status: Status = "pending"
        self.last_progress: ProgressEvent | None = None
        self._sink = progress
        self._thread: threading.Thread | None = None
        self._result: ClimbResult | None = None
        self._error: BaseException | None = None
        self._estimator: TokenCounter | None = None  # the dry run's and the cost cap's counter
        self._seed = 0  # the eval sample's seed, which also orders the rows before each early-stop look
        self._decide: sequential.Budget | None = None  # --decide: its budget (None: off)
        self._looks: dict[str, Any] | None = None  # --decide: the record of its looks

    # -- control ------------------------------------------------------------------------------------
    def run(self) -> ClimbResult:
        """Run the climb in this thread; returns its result or raises (ClimbCancelled when cancelled)."""
        self.status = "running"
        try:
            self._result = self._run()
        except ClimbCancelled:
            self.status = "cancelled"
            raise
        except BaseException:
            self.status = "failed"
            raise
        self.status = "done"
        return self._result

    def start(self) -> ClimbJob:
        """Run the climb in a background thread; `wait()` for its result."""

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - handed to wait()
                self._error = exc

        self._thread = threading.Thread(target=target, name=f"climb-{self.task.name}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> ClimbResult:
        """The result of a started climb; raises what it raised, or TimeoutError."""
        if self._thread is None:
            raise RuntimeError("the climb was not started: call start() first")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the climb of {self.task.name} is still running")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """Stop the climb: no new call is sent (calls in flight finish and are stored), training stops after its
        current step and keeps a checkpoint; `run()`/`wait()` then raise ClimbCancelled."""
        self.cancel_token.cancel()

    def _progress(self, event: ProgressEvent) -> None:
        self.last_progress = event
        if self._sink is not None:
            self._sink(event)

    # -- plan, run, judge ---------------------------------------------------------------------------
    def _run(self) -> ClimbResult:
        options = self.options
        model = (self._model_spec if isinstance(self._model_spec, Model)
                 else self._choice.resolve(concurrency=options.concurrency) if self._choice is not None
                 else resolve_model(self._model_spec))
        limits = self.task.spec.model
        apply_deadlines(model, None if isinstance(options.timeout_s, NotSet) else options.timeout_s,
                        None if isinstance(options.retries, NotSet) else options.retries,
                        task_timeout_s=limits.timeout_s, task_retries=limits.retries)
        set_rate_limits = getattr(model, "set_rate_limits", None)  # HTTP-backed models; the CLI's limits win
        if set_rate_limits is not None and (limits.rpm or limits.tpm):
            set_rate_limits(limits.rpm, limits.tpm)
        cache_dir = cache_root(options.cache_dir)
        policy = self.task.spec.checks.leakage if isinstance(options.leakage, NotSet) else options.leakage
        # exact leakage under the stop policy ends the climb anyway: say so before minutes of embedding
        near = not (policy == "stop" and exact_leaks(self.task))
        report = run_checks(self.task, cache_dir=cache_dir, near=near)
        scored_task = with_finetune_base(checked_task(self.task, options, report), options)
        store = Store(options.store_path)
        scorer = Scorer(scored_task)
        try:
            return run_interruptibly(self._climb(scored_task, model, store, scorer, report, cache_dir))
        finally:
            scorer.close()
            store.close()

    async def _climb(self, task: Task, model: Model, store: Store, scorer: Scorer, report: CheckReport,
                     cache_dir: Path) -> ClimbResult:
        options = self.options
        sample = task.spec.eval.sample if isinstance(options.sample, NotSet) else options.sample
        seed = task.spec.eval.seed if isinstance(options.seed, NotSet) else options.seed
        examples = task.eval_rows(sample=sample, full=options.full, seed=seed)
        wanted = _selected(options)
        leakage = task.spec.checks.leakage if isinstance(options.leakage, NotSet) else options.leakage
        settings = {
            "rungs": wanted, "all": options.all_rungs, "full": options.full,
            "sample": None if options.full else sample, "seed": seed, "leakage": leakage,
        }
        if options.variants:  # a climb of some variants is its own run
            settings["variants"] = sorted(set(options.variants))
        if options.proposer:  # another proposer searches another instruction: another run
            settings["proposer"] = options.proposer
        if options.curve:  # a curve climb is its own run (a plain run's settings, and so its identity, stay as they were)
            settings["curve"] = True
        if options.early_stop:  # so is a climb that stops variants at looks
            settings["early_stop"] = early_stop.settings()
        self._seed = seed
        self._decide = self._decide_budget(task)
        if self._decide is not None:  # and so is a climb that scores more rows where the verdict hangs
            settings["decide"] = sequential.settings(self._decide)
        resources = SharedResources(progress=self._progress)
        outcomes: list[VariantOutcome] = []
        try:
            info = await model.open()  # once, before any rung prepares
            counter = TokenCounter(model, conservative=True, calibrated=False)  # requests never vary with answers
            budget = await derive_budget(task, counter.count)
            if counter.estimated:  # no tokenizer on the server: say so wherever the budget is shown
                budget = dataclasses.replace(budget, reason=f"{budget.reason}; token counts: {counter.basis}")
            run_id = "dry-run"
            if not options.dry_run:
                thash = task_hash(task)
                # under a lease: a live climb of the same run is waited for, never joined (see rungwise.store.leases)
                run_id = store.claim_run(task.name, str(task.folder), thash, info.fingerprint, settings,
                                         resume=options.resume)
            runner = Runner(store, run_id, scorer, concurrency=options.concurrency, progress=self._progress,
                            cancel=self.cancel_token)
            proposer = await self._proposer(task, model, resources)
            context = RungContext(model=model, budget=budget, cache_dir=cache_dir, dry_run=options.dry_run,
                                  resources=resources, progress=self._progress, cancel=self.cancel_token,
                                  curve=options.curve, complete=_cached_calls(store), proposer=proposer,
                                  cancel_remote=options.cancel_remote)
            estimates, skipped = await self._ladder(task, model, store, runner, context, examples, wanted, outcomes)
            why = why_unconstrained(task, info)
            if why and task.spec.output.type != "text" and task.spec.output.constrained:
                skipped["constrained variants"] = why
        finally:
            for owned_model in resources.owned_models:
                await owned_model.aclose()
            # connections are bound to this event loop; a server the model started itself stops here
            await model.aclose()
        return self._judge(task, info, store, run_id, scorer, runner.stats, report, examples, budget, outcomes,
                           estimates, skipped, command=_command(task, model))

    async def _ladder(self, task: Task, model: Model, store: Store, runner: Runner, context: RungContext,
                      examples: list[Example], wanted: list[str],
                      outcomes: list[VariantOutcome]) -> tuple[list[Estimate], dict[str, str]]:
        options = self.options
        estimates: list[Estimate] = []
        skipped: dict[str, str] = {}
        estimator = TokenCounter(model)
        self._estimator = estimator
        spent = 0.0
        by_name: dict[str, VariantOutcome] = {}
        for rung in ladder():
            if rung.name not in wanted:
                continue
            self.cancel_token.raise_if_cancelled()
            try:
                if rung.calls_while_preparing and not options.dry_run and (options.variants or
                                                                           options.max_cost is not None):
                    plan = await rung.aprepare(task, dataclasses.replace(context, dry_run=True))
                    if options.variants and not {v.name for v in plan} & set(options.variants):
                        skipped[rung.name] = ("--variants names none of its variants, and it calls the model while "
                                              "it prepares: not run")
                        continue
                    planned = await self._planned_cost(task, plan, examples, estimator)
                    if options.max_cost is not None and spent + planned > options.max_cost:
                        skipped[rung.name] = (f"its estimated cost {planned:.4f} (what it calls while it prepares, "
                                              f"then its variants on the eval) would take the climb past the cap "
                                              f"of {options.max_cost:.4f} (spent {spent:.4f})")
                        continue
                variants = await rung.aprepare(task, context)
            except RungSkipped as why:
                skipped[rung.name] = str(why)
                continue
            # what a rung spent while it prepared (the prompt search's calls) counts against --max-cost
            spent += sum(float(v.config["search"].get("cost") or 0.0) for v in variants
                         if isinstance(v.config.get("search"), dict) and not v.twin_of)
            if options.variants:
                variants = [v for v in variants if v.name in options.variants]
            # a learning curve's largest point is its base variant: every point on the same rows, so it never stops
            curve_bases = {str(v.config["curve"]) for v in variants if v.purpose == "curve" and v.config.get("curve")}
            owned = context.resources.owned_models
            owned.extend(m for m in {id(v.model): v.model for v in variants if v.model is not None}.values()
                         if m not in owned)
            for variant in variants:
                if options.dry_run or options.max_cost is not None:
                    est, searched = await _estimate(task, variant, examples, estimator)
                    estimates.append(est)
                    if searched is not None:  # the search's own calls, a one-off before the eval's
                        estimates.append(searched)
                        est = dataclasses.replace(est, cost=est.cost + searched.cost)
                    if options.dry_run:
                        continue
                    if options.max_cost is not None and spent + est.cost > options.max_cost:
                        skipped[variant.name] = (f"its estimated cost {est.cost:.4f} would take the climb past the "
                                                 f"cap of {options.max_cost:.4f} (spent {spent:.4f})")
                        continue
                outcome = await self._run_variant(task, rung, variant, store, runner, model, examples, by_name,
                                                  every_row=variant.name in curve_bases)
                outcomes.append(outcome)
                by_name[variant.name] = outcome
                s = outcome.summary
                spent += price(s.name, s.mean_prompt_tokens, s.mean_completion_tokens, task.spec.costs).cost_per_call * s.n
            met = any(o.summary.rung == rung.name and o.variant.purpose == "ladder" and o.summary.score >= task.spec.target
                      for o in outcomes)
            # each new lead (another variant of the rung may meet the target when this one no longer does) gets looks
            while (met and not options.all_rungs and self._decide is not None and not options.dry_run
                   and await self._score_where_it_hangs(task, runner, model, examples, outcomes)):
                met = any(o.summary.rung == rung.name and o.variant.purpose == "ladder"
                          and o.summary.score >= task.spec.target for o in outcomes)
            if met and not options.all_rungs:
                break
        else:
            if self._decide is not None and not options.dry_run and outcomes:
                await self._score_where_it_hangs(task, runner, model, examples, outcomes)
        for name in options.variants or []:
            if name not in by_name and name not in skipped and not options.dry_run:
                skipped[name] = "no rung of this climb makes a variant of this name"
        return estimates, skipped

    async def _planned_cost(self, task: Task, plan: list[Variant], examples: list[Example],
                            estimator: TokenCounter) -> float:
        """The dry-run estimate of a rung that calls the model while it prepares (`plan`: its dry-run variants):
        its own calls (the search's budget, spent whichever variants are wanted) and the wanted variants' eval
        calls, before it makes any."""
        total = 0.0
        for variant in plan:
            est, searched = await _estimate(task, variant, examples, estimator)
            wanted = not self.options.variants or variant.name in self.options.variants
            total += (est.cost if wanted else 0.0) + (searched.cost if searched is not None else 0.0)
        return total

    async def _proposer(self, task: Task, model: Model, resources: SharedResources) -> Model | None:
        """The prompt search's proposer (`--proposer`, else [prompt] proposer), opened; None: the task's model."""
        spec = self.options.proposer or task.spec.prompt.proposer
        if not spec or self.options.dry_run or "prompt-search" not in _selected(self.options) \
                or not task.spec.prompt.search:
            return None
        url, _, name = spec.partition("#")
        if url == "local" and isinstance(model, EmbeddedModel):
            return None  # the embedded model already answers: one server, not two
        proposer = resolve_model(url, model_name=name or None)
        await proposer.open()
        resources.owned_models.append(proposer)
        return proposer

    def _decide_budget(self, task: Task) -> sequential.Budget | None:
        """--decide (or the task's [eval] decide): its budget; None when off."""
        options, own = self.options, task.spec.eval.decide
        if options.decide is False:  # --no-decide: off, whatever the budget
            return None
        if not (options.decide or options.decide_budget or own):
            return None
        return sequential.parse_budget(options.decide_budget or (own if isinstance(own, str) else None))

    async def _score_where_it_hangs(self, task: Task, runner: Runner, model: Model, examples: list[Example],
                                    outcomes: list[VariantOutcome]) -> bool:
        """--decide: score more rows of the variants the verdict rests on (the lead, the no-LLM reference), in the
        seeded order the climb scored its sample in and then the eval file's other rows, at the looks of
        `sequential.schedule`, until every claim is settled (`sequential.judge`), the budget is spent or the rows
        run out. The looks are a function of the stored rows, so an interrupted climb resumes at the same look.
        False when there was nothing to look at (no lead, or a lead that already had its looks)."""
        budget = self._decide
        target = task.spec.target
        lead = lead_of([o.summary for o in outcomes], target)
        done = {str(look["lead"]) for look in (self._looks or {}).get("looks", [])}
        if budget is None or lead is None or lead.stopped or lead.name in done:
            return False  # a variant stopped early is settled; a lead gets one sequence of looks
        by_name = {o.summary.name: o for o in outcomes}
        ref = next((o.summary.name for o in outcomes if o.variant.purpose == "reference"), None)
        names = [lead.name] + ([ref] if ref else [])
        order = sequential.extension_order(early_stop.look_order(examples, self._seed), task.eval, self._seed,
                                           key=lambda ex: ex.id)
        position = {ex.id: i for i, ex in enumerate(task.eval)}
        costs = task.spec.costs
        per_row = {n: (price(n, by_name[n].summary.mean_prompt_tokens, by_name[n].summary.mean_completion_tokens,
                             costs).cost_per_call, by_name[n].summary.seconds_per_example) for n in names}
        cap = len(order)
        if budget.rows is not None:
            cap = min(cap, max(len(examples), budget.rows))
        money, seconds = sum(c for c, _ in per_row.values()), sum(t for _, t in per_row.values())
        if budget.cost is not None and money > 0:
            cap = min(cap, len(examples) + int(budget.cost / money))
        if budget.minutes is not None and seconds > 0:
            cap = min(cap, len(examples) + int(budget.minutes * 60.0 / seconds))
        free = ref if ref and by_name[ref].variant.answer is not None else None
        looks = sequential.Looks(lead.name, ref, target, binary=runner.scorer.binary,
                                 schedule=sequential.schedule(len(examples), cap), free_reference=free is not None)
        record = self._looks or {"alpha": sequential.ALPHA, "spending": sequential.SPENDING, "power": sequential.POWER,
                                 "budget": budget.to_dict(), "available": len(order), "looks": []}
        record.update(lead=lead.name, reference=ref, schedule=looks.schedule, levels=looks.levels, cap=cap)
        self._looks = record
        spent_cost, spent_s, stopped = 0.0, 0.0, "rows" if cap == len(order) else "budget"
        for k, rows in enumerate(looks.schedule, 1):
            for name in looks.need:
                o = by_name[name]
                have = {r.example_id for r in o.rows}
                stage = {ex.id for ex in order[:rows] if ex.id not in have}
                new = await runner.run(o.variant, [ex for ex in task.eval if ex.id in stage], model,
                                       of=(len(have), rows))
                spent_cost += per_row[name][0] * len(new)
                spent_s += sum(r.latency_s for r in new)
                o.rows = sorted([*o.rows, *new], key=lambda r: position.get(r.example_id, -1))
                o.summary = _resummarized(o, runner.scorer.binary)
            look = looks.observe({n: {r.example_id: r.score for r in by_name[n].rows} for n in names})
            record["looks"].append({"lead": lead.name, **look.to_dict()})
            if look.resolved:
                stopped = "resolved"
                break
            step = looks.schedule[k] - rows if k < len(looks.schedule) else 0
            over_cost = (budget.cost is not None
                         and spent_cost + step * sum(per_row[n][0] for n in looks.need) > budget.cost)
            over_time = (budget.minutes is not None
                         and spent_s + step * sum(per_row[n][1] for n in looks.need) > budget.minutes * 60.0)
            if k < len(looks.schedule) and (over_cost or over_time):
                stopped = "budget"
                break
        record.update(stopped=stopped, resolved=stopped == "resolved",
                      rows={n: len(by_name[n].rows) for n in names}, spent={"cost": spent_cost, "seconds": spent_s})
        return True

    async def _run_variant(self, task: Task, rung: Rung, variant: Variant, store: Store, runner: Runner, model: Model,
                           examples: list[Example], by_name: dict[str, VariantOutcome], *,
                           every_row: bool = False) -> VariantOutcome:
        store.record_variant(runner.run_id, variant.name, variant.rung, {**variant.config, "probe": variant.probe})
        for name, kind, path, meta in variant.artifacts:
            store.add_artifact(runner.run_id, name, kind, path, meta)
        if variant.model is not None:
            await variant.model.open()
        base = by_name.get(variant.twin_of) if variant.twin_of else None
        twin_rows = {r.example_id: r for r in base.rows} if base is not None else None
        if self.options.early_stop and variant.purpose == "ladder" and not every_row:
            rows, stopped = await self._score_with_looks(task, variant, runner, model, examples, twin_rows)
        else:
            rows, stopped = await runner.run(variant, examples, model, twin_rows=twin_rows), None
        summary = summarize(variant.name, variant.rung, rows, binary=runner.scorer.binary, probe=variant.probe,
                            kind=rung.kind, purpose=variant.purpose, retrieval=variant.retrieval,
                            twin_of=variant.twin_of, description=str(variant.config.get("reference", "")),
                            stopped=stopped.to_dict() if stopped else None)
        artifacts = variant.artifacts or (base.artifacts if base is not None else [])
        return VariantOutcome(variant, summary, rows, artifacts)

    async def _score_with_looks(self, task: Task, variant: Variant, runner: Runner, model: Model,
                                examples: list[Example], twin_rows: dict[str, ResultRow] | None,
                                ) -> tuple[list[ResultRow], early_stop.EarlyStop | None]:
        """Score `variant` in stages of a seeded random order, looking after each (see rungwise.judge.early_stop): the
        rows scored, in eval order, and why it stopped (None: it scored every row)."""
        order = early_stop.look_order(examples, self._seed)
        scored: dict[str, ResultRow] = {}
        stopped: early_stop.EarlyStop | None = None
        for end in early_stop.looks_for(len(order)):
            stage = {ex.id for ex in order[len(scored):end]}
            for row in await runner.run(variant, [ex for ex in examples if ex.id in stage], model, twin_rows=twin_rows,
                                        of=(len(scored), len(examples))):
                scored[row.example_id] = row
            if end < len(order):
                stopped = early_stop.futility([r.score for r in scored.values()], task.spec.target, len(examples),
                                              binary=runner.scorer.binary)
                if stopped is not None:
                    self._progress(ProgressEvent("calls", variant.name, len(scored), len(examples),
                                                 stopped="cannot reach the target"))
                    break
        return [scored[ex.id] for ex in examples if ex.id in scored], stopped

    def _judge(self, task: Task, info: ModelInfo, store: Store, run_id: str, scorer: Scorer, stats: RunStats,
               report: CheckReport, examples: list[Example], budget: Any, outcomes: list[VariantOutcome],
               estimates: list[Estimate], skipped: dict[str, str], *, command: str) -> ClimbResult:
        summaries = [o.summary for o in outcomes]
        scores = {o.summary.name: {r.example_id: r.score for r in o.rows} for o in outcomes}
        costs = {s.name: price(s.name, s.mean_prompt_tokens, s.mean_completion_tokens, task.spec.costs) for s in summaries}
        finetune_costs = finetune_bill(task, outcomes, costs)
        curves = learning_curves(task, outcomes)
        searched = {o.summary.name: o.variant.config["search"] for o in outcomes
                    if "search" in o.variant.config and not o.variant.twin_of}
        decision = decide(summaries, scores, task.spec.target,
                          costs_per_call={k: c.cost_per_call for k, c in costs.items()}, curves=curves,
                          available=len(task.eval), command=command,
                          currency=task.spec.costs.currency, looks=self._looks, searched=searched,
                          finetune_needs=_finetune_needs(task)) if summaries else None
        recommendation = decision.recommendation if decision else (
            "Dry run: no model was called; see the estimates." if self.options.dry_run else "No rung ran.")
        extra: dict[str, Any] = {}
        if self._looks is not None:
            extra["decide"] = self._looks
        estimator = self._estimator
        if estimator is not None and estimator.estimated:
            extra["token_counts"] = estimator.basis
        if finetune_costs:
            extra["finetune_costs"] = {k: v.to_dict() for k, v in finetune_costs.items()}
        if searched:
            extra["prompt_search"] = searched
        stale = _stale_adapters(outcomes, self._tuner_base(outcomes, info.fingerprint))
        if stale:
            extra["stale_adapters"] = stale
        served = served_models(outcomes)
        if served:
            extra["served_models"] = served
        if len(served) > 1:
            extra["served_model_changed"] = (f"the server answered with {len(served)} different models during the "
                                             f"climb ({', '.join(served)}): scores of different models are mixed")
        result = ClimbResult(
            run_id=run_id, task=task.name, model=info.fingerprint, target=task.spec.target, metric=scorer.metric,
            n_eval=len(examples), variants=summaries, skipped=skipped, recommendation=recommendation,
            shipped=decision.shipped if decision else None,
            budget={"max_tokens": budget.max_tokens, "stop": list(budget.stop), "reason": budget.reason},
            stats=stats, costs=costs, decision=decision, checks=report, estimates=estimates, extra=extra,
            model_info=info, outcomes=outcomes, curves=[c.to_dict() for c in curves],
        )
        if run_id != "dry-run":
            store.finish_run(run_id, result.to_dict())
            from rungwise.record.stored import record_climb  # the versioned record every report is rendered from
            scored = {r.example_id for o in outcomes for r in o.rows} if self._looks is not None else set()
            result.stored = record_climb(result.record(), store, [ex for ex in task.eval if ex.id in scored] if scored
                                         else examples).result
        return result

    def _tuner_base(self, outcomes: list[VariantOutcome], served: str) -> str | None:
        """The base an adapter must have been trained on: the backend's own tuner's, or, for an adapter TRL
        trained on a team's weights, the model the climb runs on (`served`)."""
        if any(meta.get("trainer") == "trl" for o in outcomes for *_, meta in o.artifacts[:1]):
            return served
        model = self._model_spec if isinstance(self._model_spec, Model) else None
        tuner = model.tuner() if model is not None and any(o.artifacts for o in outcomes) else None
        return tuner.base_fingerprint if tuner is not None else None


def _task_choice(task: Task) -> tuple[Task, Any]:
    """What a climb given no model climbs: the task's one `[[models]]` entry (its ModelChoice, with the task priced
    at its prices), else None (the embedded model)."""
    if not task.spec.models:
        return task, None
    from rungwise.engine.choices import models_from_task, priced_task

    choices = models_from_task(task)
    if len(choices) > 1:
        raise TaskError(f"{task.folder / 'task.toml'} lists {len(choices)} models in [[models]] "
                        f"({', '.join(c.label for c in choices)}): climb them all with rungwise.climb_models(task), "
                        "which returns each model's climb and the frontier, or pass climb() the one model to climb.")
    return priced_task(task, choices[0]), choices[0]


def proposer_costs(task: Task) -> Any:
    """The task's [costs] with the proposer's prices where [prompt] sets them."""
    p, costs = task.spec.prompt, task.spec.costs
    update = {k: v for k, v in (("input_price_per_million", p.proposer_input_price_per_million),
                                ("output_price_per_million", p.proposer_output_price_per_million)) if v is not None}
    return costs.model_copy(update=update) if update else costs


def _cached_calls(store: Store) -> Any:
    """How a rung calls a model while it prepares: the store's response cache first, every answer cached (an
    interrupted prompt search replays from the store without a call)."""

    async def complete(model: Model, request: Request) -> tuple[Completion, bool]:
        key = request.key()
        hit = store.cached(model.fingerprint, key)
        if hit is not None:
            return hit, True
        completion = await model.complete(request)
        store.put_cache(model.fingerprint, key, completion)
        return completion, False

    return complete


async def _estimate(task: Task, variant: Variant, examples: list[Example],
                    estimator: TokenCounter) -> tuple[Estimate, Estimate | None]:
    """A variant's eval calls before any is made, and its prompt search's own calls where it plans one."""
    est = await estimate_variant(variant, examples, estimator, task.spec.costs)
    return est, estimate_search(variant, est, task.spec.costs, proposer_costs(task))


def _finetune_needs(task: Task) -> dict[str, float]:
    """What a fine-tune of the task would need (its labelled train rows and their price, its retrainings a year):
    what a prompt search that closes the gap saves."""
    c = task.spec.costs
    return {"rows": len(task.train), "dataset": len(task.train) * c.labelled_example_cost,
            "updates_per_year": c.base_model_updates_per_year}


def _command(task: Task, model: Model | None) -> str:
    """The climb that scores more rows of an open verdict, as the recommendation writes it: on the model this
    climb ran on (its URL, its name and the name of its key's variable, never the key)."""
    import shlex

    from rungwise.models.openai_http import OpenAIHttpModel

    parts = ["rungwise", "climb", str(task.folder)]
    if isinstance(model, OpenAIHttpModel) and not isinstance(model, EmbeddedModel):
        parts += ["--model", model.base_url, "--model-name", model.model_name]
        if model.api_key_env:
            parts += ["--api-key-env", model.api_key_env]
    return " ".join(shlex.quote(p) for p in parts)


def _resummarized(o: VariantOutcome, binary: bool) -> VariantSummary:
    """A variant's summary again, on the rows it has now (more, after a look of --decide)."""
    s = o.summary
    return summarize(s.name, s.rung, o.rows, binary=binary, probe=s.probe, kind=s.kind, purpose=s.purpose,
                     retrieval=s.retrieval, twin_of=s.twin_of, description=s.description, stopped=s.stopped)


def served_models(outcomes: list[VariantOutcome]) -> list[str]:
    """The models the server said answered this climb's rows, in order of first sight."""
    seen: dict[str, None] = {}
    for o in outcomes:
        for r in o.rows:
            if r.served_model:
                seen.setdefault(r.served_model)
    return list(seen)


def _stale_adapters(outcomes: list[VariantOutcome], base: str | None) -> dict[str, str]:
    """Variants whose adapter was trained on another base model than the one served now."""
    if base is None:
        return {}
    return {o.summary.name: str(meta.get("base_model")) for o in outcomes for _, _, _, meta in o.artifacts[:1]
            if is_stale(meta, base)}


def finetune_bill(task: Task, outcomes: list[VariantOutcome], costs: dict[str, RungCost]) -> dict[str, FinetuneCost]:
    """Fine-tuning's whole bill per fine-tuned variant, against the cheapest other rung that meets the target
    (else the best-scoring one)."""
    others = [o.summary for o in outcomes if kind_of(o.summary) != "training" and o.variant.purpose == "ladder"]
    meeting = [s for s in others if s.score >= task.spec.target] or sorted(others, key=lambda s: s.score)[-1:]
    reference = min((costs[s.name] for s in meeting), key=lambda c: c.cost_per_call, default=None)
    out: dict[str, FinetuneCost] = {}
    for o in outcomes:
        s = o.summary
        if kind_of(s) == "training" and o.artifacts and o.variant.purpose != "curve":
            meta = o.artifacts[0][3]
            out[s.name] = finetune_cost(task.spec.costs, per_call=costs[s.name].cost_per_call,
                                        train_examples=int(meta.get("examples", 0)),
                                        train_seconds=float(meta.get("train_seconds", 0.0)), eval_rows=s.n,
                                        reference=reference,
                                        trained_tokens=float(meta.get("trained_tokens") or 0.0)
                                        if meta.get("hosted") else None, hosted=bool(meta.get("hosted")))
    return out


def _rows_of(outcome: VariantOutcome, default: Any = None) -> int | None:
    """The training rows behind a variant: its adapter's, else its configured pool size."""
    meta = outcome.artifacts[0][3] if outcome.artifacts else {}
    rows = meta.get("examples") or outcome.variant.config.get("rows") or default
    return int(rows) if rows else None


def learning_curves(task: Task, outcomes: list[VariantOutcome]) -> list[LearningCurve]:
    """One learning curve per variant scored on smaller pools (purpose `curve`), its full-pool outcome the largest
    point; all points are scored on the same eval rows, so the bootstrap is paired."""
    groups: dict[str, list[VariantOutcome]] = {}
    for o in outcomes:
        if o.variant.purpose == "curve" and o.variant.config.get("curve"):
            groups.setdefault(str(o.variant.config["curve"]), []).append(o)
    by_name = {o.summary.name: o for o in outcomes}
    curves: list[LearningCurve] = []
    for name, points in groups.items():
        full = by_name.get(name)
        sized = {r: o for o in points if (r := _rows_of(o))}
        if full is not None and (r := _rows_of(full, points[0].variant.config.get("of"))):
            sized.setdefault(r, full)
        ids = [{row.example_id for row in o.rows} for o in sized.values()]
        common = set.intersection(*ids) if ids else set()
        if len(sized) < 2 or not common:
            continue
        sizes = sorted(sized)
        matrix = np.array([[row.score for row in sized[n].rows if row.example_id in common] for n in sizes], dtype=float)
        costs = task.spec.costs
        curves.append(learning_curve(name, sizes, matrix, task.spec.target, kind=kind_of(sized[sizes[-1]].summary),
                                     labelled_example_cost=costs.labelled_example_cost, currency=costs.currency,
                                     seed=task.spec.eval.seed, variants=[sized[n].summary.name for n in sizes]))
    return curves
