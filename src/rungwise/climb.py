"""Climb the ladder on a task's held-out eval set: score each rung, stop at the first that meets the target."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rungwise.data import Example
from rungwise.embeddings import resolve_cache_dir
from rungwise.errors import TaskError
from rungwise.models.base import Model
from rungwise.models.registry import resolve_model
from rungwise.rungs import RUNG_NAMES, RungContext, RungSkipped, Variant, ladder
from rungwise.rungs.prompting import derive_budget
from rungwise.runner import Progress, Runner, RunStats
from rungwise.scoring import Scorer
from rungwise.store import ResultRow, Store
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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "task": self.task, "model": self.model, "target": self.target,
            "metric": self.metric, "n_eval": self.n_eval, "shipped": self.shipped,
            "recommendation": self.recommendation, "budget": self.budget, "skipped": self.skipped,
            "variants": [v.to_dict() for v in self.variants],
            "calls": self.stats.calls, "cache_hits": self.stats.cache_hits, "resumed": self.stats.resumed,
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
    model_obj = resolve_model(model) if owned else model  # type: ignore[arg-type]
    store = Store(options.store_path)
    try:
        return asyncio.run(_climb(task, model_obj, options, store, progress))
    finally:
        store.close()
        if owned and hasattr(model_obj, "close"):
            model_obj.close()


async def _climb(task: Task, model: Model, options: ClimbOptions, store: Store, progress: Progress | None) -> ClimbResult:
    examples = task.eval_sample(full=options.full)
    wanted = _selected(options)
    settings = {
        "rungs": wanted, "all": options.all_rungs, "full": options.full,
        "sample": None if options.full else task.spec.eval.sample, "seed": task.spec.eval.seed,
    }
    thash = task_hash(task)
    run_id = (store.find_resumable(thash, model.fingerprint, settings) if options.resume else None) or store.create_run(
        task.name, str(task.folder), thash, model.fingerprint, settings
    )
    scorer = Scorer(task)
    runner = Runner(store, run_id, scorer, concurrency=options.concurrency, progress=progress)
    try:
        budget = await derive_budget(task, model.count_tokens)
        context = RungContext(model=model, budget=budget, cache_dir=resolve_cache_dir(options.cache_dir))
        summaries: list[VariantSummary] = []
        skipped: dict[str, str] = {}
        shipped: str | None = None
        for rung in ladder():
            if rung.name not in wanted:
                continue
            try:
                variants = rung.prepare(task, context)
            except RungSkipped as why:
                skipped[rung.name] = str(why)
                continue
            for variant in variants:
                summaries.append(await _run_variant(store, run_id, runner, variant, examples, model, scorer))
            met = [s for s in summaries if s.rung == rung.name and not s.probe and s.score >= task.spec.target]
            if met and shipped is None:
                shipped = max(met, key=lambda s: s.score).name
                if not options.all_rungs:
                    break
    finally:
        await model.aclose()
    recommendation = _recommend(task, summaries, shipped)
    result = ClimbResult(
        run_id=run_id, task=task.name, model=model.fingerprint, target=task.spec.target, metric=scorer.metric,
        n_eval=len(examples), variants=summaries, skipped=skipped, recommendation=recommendation, shipped=shipped,
        budget={"max_tokens": budget.max_tokens, "stop": list(budget.stop), "reason": budget.reason},
        stats=runner.stats,
    )
    store.finish_run(run_id, result.to_dict())
    return result


async def _run_variant(store: Store, run_id: str, runner: Runner, variant: Variant, examples: list[Example],
                       model: Model, scorer: Scorer) -> VariantSummary:
    store.record_variant(run_id, variant.name, variant.rung, {**variant.config, "probe": variant.probe})
    rows: list[ResultRow] = await runner.run(variant, examples, model)
    return summarize(variant.name, variant.rung, rows, binary=scorer.binary, probe=variant.probe)


def _recommend(task: Task, summaries: list[VariantSummary], shipped: str | None) -> str:
    if not summaries:
        return "No rung ran."
    target = task.spec.target
    if shipped is not None:
        s = next(v for v in summaries if v.name == shipped)
        return (f"Ship '{s.name}': it scores {s.score:.1%} (95% CI {s.low:.1%}-{s.high:.1%}) on {s.n} eval rows, "
                f"meeting the target of {target:.0%}, at {s.mean_prompt_tokens:.0f} prompt tokens per call.")
    best = max((v for v in summaries if not v.probe), key=lambda v: v.score)
    return (f"No rung tried meets the target of {target:.0%}; the best is '{best.name}' at {best.score:.1%} "
            f"(95% CI {best.low:.1%}-{best.high:.1%}). Climb further up the ladder.")
