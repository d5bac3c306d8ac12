"""Climb the ladder on a task's held-out eval set: score each rung, stop at the first that meets the target."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rungwise.checks import CheckReport, drop_leaked, run_checks
from rungwise.costs import FinetuneCost, RungCost, finetune_cost, price
from rungwise.decide import Decision, decide
from rungwise.embeddings import resolve_cache_dir
from rungwise.errors import TaskError
from rungwise.estimate import Estimate, TokenEstimator, estimate_variant
from rungwise.models.base import Model
from rungwise.models.registry import resolve_model
from rungwise.rungs import RUNG_NAMES, RungContext, RungSkipped, Variant, ladder
from rungwise.rungs.prompting import derive_budget
from rungwise.runner import Progress, Runner, RunStats
from rungwise.scoring import Scorer
from rungwise.store import Store
from rungwise.summary import VariantSummary, summarize
from rungwise.task import Task


@dataclass
class ClimbOptions:
    """How to climb. Every field has a default; the CLI maps its flags onto these."""

    full: bool = False
    """Score every eval row instead of the task's seeded sample."""
    all_rungs: bool = False
    """Keep climbing after a rung meets the target."""
    rungs: list[str] | None = None
    """Only these rungs (ladder order is kept)."""
    concurrency: int | None = None
    store_path: Path | None = None
    resume: bool = True
    """Continue the latest unfinished run of the same task, model and settings."""
    cache_dir: Path | None = None
    """Where embeddings and retrieval indexes are cached (default ~/.cache/rungwise or RUNGWISE_CACHE_DIR)."""
    dry_run: bool = False
    """Estimate tokens and cost of every variant; call no model."""
    max_cost: float | None = None
    """Stop before a variant whose estimated cost would take the climb past this amount."""
    leakage: str | None = None
    """Override the task's [checks] leakage policy: stop, drop or warn."""
    sample: int | None = None
    """Override the task's [eval] sample size (rows drawn at random with the task's seed)."""


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "task": self.task, "model": self.model, "target": self.target,
            "metric": self.metric, "n_eval": self.n_eval, "shipped": self.shipped,
            "recommendation": self.recommendation, "budget": self.budget, "skipped": self.skipped,
            "variants": [{**v.to_dict(), "cost": self.costs[v.name].to_dict() if v.name in self.costs else None}
                         for v in self.variants],
            "decision": self.decision.to_dict() if self.decision else None,
            "checks": self.checks.to_dict() if self.checks else None,
            "estimates": [e.to_dict() for e in self.estimates],
            "calls": self.stats.calls, "cache_hits": self.stats.cache_hits, "resumed": self.stats.resumed,
            "server_failures": self.stats.server_failures,
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
    if not options.rungs:
        return list(RUNG_NAMES)
    unknown = [r for r in options.rungs if r not in RUNG_NAMES]
    if unknown:
        raise TaskError(f"Unknown rung {unknown[0]!r}. Rungs: {', '.join(RUNG_NAMES)}.")
    return [r for r in RUNG_NAMES if r in options.rungs]


def checked_task(task: Task, options: ClimbOptions, report: CheckReport) -> Task:
    """Apply the leakage policy: stop (a TaskError), drop the leaked eval rows, or carry on with a warning."""
    policy = options.leakage or task.spec.checks.leakage
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


def climb(
    task: Task | str | Path,
    model: str | Model = "local",
    options: ClimbOptions | None = None,
    *,
    progress: Progress | None = None,
) -> ClimbResult:
    """Climb the ladder on `task` with `model` ('local', or a Model). See ClimbOptions."""
    options = options or ClimbOptions()
    task = task if isinstance(task, Task) else Task.load(task)
    owned = not isinstance(model, Model)
    model_obj = model if isinstance(model, Model) else resolve_model(model)
    cache_dir = resolve_cache_dir(options.cache_dir)
    report = run_checks(task, cache_dir=cache_dir, near=task.spec.checks.near_duplicates)
    scored_task = checked_task(task, options, report)
    store = Store(options.store_path)
    try:
        return asyncio.run(_climb(scored_task, model_obj, options, store, progress, report, cache_dir))
    finally:
        store.close()
        if owned and hasattr(model_obj, "close"):
            model_obj.close()


async def _climb(task: Task, model: Model, options: ClimbOptions, store: Store, progress: Progress | None,
                 report: CheckReport, cache_dir: Path) -> ClimbResult:
    if options.sample is not None:
        task.spec.eval.sample = options.sample
    examples = task.eval_sample(full=options.full)
    wanted = _selected(options)
    settings = {
        "rungs": wanted, "all": options.all_rungs, "full": options.full,
        "sample": None if options.full else task.spec.eval.sample, "seed": task.spec.eval.seed,
        "leakage": options.leakage or task.spec.checks.leakage,
    }
    scorer = Scorer(task)
    estimator = TokenEstimator(model)
    run_id = "dry-run"
    if not options.dry_run:
        thash = task_hash(task)
        # under a lease: a live climb of the same run is waited for, never joined (see rungwise.leases)
        run_id = store.claim_run(task.name, str(task.folder), thash, model.fingerprint, settings, resume=options.resume)
    runner = Runner(store, run_id, scorer, concurrency=options.concurrency, progress=progress)
    summaries: list[VariantSummary] = []
    scores: dict[str, np.ndarray] = {}
    estimates: list[Estimate] = []
    skipped: dict[str, str] = {}
    spent = 0.0
    resources: dict[Any, Any] = {"progress": progress, "owned_models": []}
    try:
        budget = await derive_budget(task, model.count_tokens)
        context = RungContext(model=model, budget=budget, cache_dir=cache_dir, resources=resources,
                              dry_run=options.dry_run)
        for rung in ladder():
            if rung.name not in wanted:
                continue
            try:
                variants = rung.prepare(task, context)
            except RungSkipped as why:
                skipped[rung.name] = str(why)
                continue
            for variant in variants:
                if options.dry_run or options.max_cost is not None:
                    est = await estimate_variant(variant, examples, estimator, task.spec.costs)
                    estimates.append(est)
                    if options.dry_run:
                        continue
                    if options.max_cost is not None and spent + est.cost > options.max_cost:
                        skipped[variant.name] = (f"its estimated cost {est.cost:.4f} would take the climb past the "
                                                 f"cap of {options.max_cost:.4f} (spent {spent:.4f})")
                        continue
                summary, per_example = await _run_variant(store, run_id, runner, variant, examples, model, scorer)
                summaries.append(summary)
                scores[variant.name] = per_example
                spent += price(variant.name, summary.mean_prompt_tokens, summary.mean_completion_tokens,
                               task.spec.costs).cost_per_call * summary.n
            if not options.all_rungs and any(
                s.rung == rung.name and not s.probe and s.score >= task.spec.target for s in summaries
            ):
                break
    finally:
        await model.aclose()
        for owned in resources["owned_models"]:
            await owned.aclose()
            owned.close()
    costs = {s.name: price(s.name, s.mean_prompt_tokens, s.mean_completion_tokens, task.spec.costs) for s in summaries}
    finetune_costs = _finetune_costs(task, summaries, costs, store, run_id)
    decision = decide(summaries, scores, task.spec.target, costs_per_call={k: c.cost_per_call for k, c in costs.items()}) \
        if summaries else None
    recommendation = decision.recommendation if decision else (
        "Dry run: no model was called; see the estimates." if options.dry_run else "No rung ran.")
    result = ClimbResult(
        run_id=run_id, task=task.name, model=model.fingerprint, target=task.spec.target, metric=scorer.metric,
        n_eval=len(examples), variants=summaries, skipped=skipped, recommendation=recommendation,
        shipped=decision.shipped if decision else None,
        budget={"max_tokens": budget.max_tokens, "stop": list(budget.stop), "reason": budget.reason},
        stats=runner.stats, costs=costs, decision=decision, checks=report, estimates=estimates,
        extra={"finetune_costs": {k: v.to_dict() for k, v in finetune_costs.items()}} if finetune_costs else {},
    )
    if not options.dry_run:
        store.finish_run(run_id, result.to_dict())
    return result


def _finetune_costs(task: Task, summaries: list[VariantSummary], costs: dict[str, RungCost], store: Store,
                    run_id: str) -> dict[str, FinetuneCost]:
    """Fine-tuning's whole bill per finetune variant, against the cheapest other rung that meets the target."""
    if run_id == "dry-run":
        return {}
    adapters = {a["name"]: a["meta"] for a in store.artifacts(run_id)}
    others = [s for s in summaries if s.rung != "finetune" and not s.probe]
    # the rungs that meet the target, else the best-scoring one
    meeting = [s for s in others if s.score >= task.spec.target] or sorted(others, key=lambda s: s.score)[-1:]
    reference = min((costs[s.name] for s in meeting), key=lambda c: c.cost_per_call, default=None)
    out: dict[str, FinetuneCost] = {}
    for s in summaries:
        meta = adapters.get(s.name) or adapters.get(s.name.removesuffix("-constrained"))  # a constrained variant shares its adapter
        if s.rung == "finetune" and meta is not None:
            out[s.name] = finetune_cost(task.spec.costs, per_call=costs[s.name].cost_per_call,
                                        train_examples=int(meta.get("examples", 0)),
                                        train_seconds=float(meta.get("train_seconds", 0.0)), eval_rows=s.n,
                                        reference=reference)
    return out


async def _run_variant(store: Store, run_id: str, runner: Runner, variant: Variant, examples: list[Any],
                       model: Model, scorer: Scorer) -> tuple[VariantSummary, np.ndarray]:
    store.record_variant(run_id, variant.name, variant.rung, {**variant.config, "probe": variant.probe})
    adapter = variant.config.get("adapter")
    if isinstance(adapter, dict):
        store.add_artifact(run_id, variant.name, "lora-gguf", str(adapter.get("path")),
                           {k: v for k, v in adapter.items() if k != "path"})
    rows = await runner.run(variant, examples, model)
    per_example = np.array([r.score for r in rows], dtype=float)
    return summarize(variant.name, variant.rung, rows, binary=scorer.binary, probe=variant.probe), per_example
