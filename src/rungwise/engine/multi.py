"""Several models in one climb: the ladder climbed for each model on the same eval rows, each model priced at its
own prices, and the cross-model frontier (`frontier.py`) over every (model, variant).

Each model's climb is an ordinary `ClimbJob` (its own run in the store: a run is per task, model and settings) on
a copy of the task whose `[costs]` prices and `[model]` limits are the model's. The models come from `--model`
given more than once (`models_from_cli`) or from task.toml's `[[models]]` (`models_from_task`). When every climb
is done, the frontier is added to each run's stored record, so the report of any of them shows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rungwise.engine.choices import (  # re-exported: the public surface names ModelChoice here
    ModelChoice,
    labelled,
    model_choices,
    models_from_cli,
    models_from_task,
    priced_task,
)
from rungwise.engine.job import ClimbJob, ClimbResult
from rungwise.engine.options import ClimbOptions
from rungwise.errors import TaskError
from rungwise.judge.frontier import Frontier, Point, build_frontier
from rungwise.progress import ProgressEvent, ProgressSink
from rungwise.task.spec import Task

__all__ = ["ModelChoice", "MultiClimbResult", "climb_models", "model_choices", "models_from_cli", "models_from_task",
           "points_of"]


@dataclass
class MultiClimbResult:
    """Every model's climb (in the order given) and the frontier across them (None for a dry run)."""

    labels: list[str]
    results: list[ClimbResult]
    frontier: Frontier | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": [{"label": label, **r.record().model_dump(mode="json")}
                       for label, r in zip(self.labels, self.results, strict=True)],
            "frontier": self.frontier.to_dict() if self.frontier else None,
        }


def points_of(label: str, result: ClimbResult) -> list[Point]:
    """The frontier's points of one model's climb: its ladder variants (not probes, references or curve points),
    at the prices its climb was priced with."""
    points = []
    for o in result.outcomes:
        s = o.summary
        if s.probe or o.variant.purpose != "ladder" or s.name not in result.costs:
            continue
        c = result.costs[s.name]
        points.append(Point(label, s.name, s.rung, s.score, s.low, s.high, s.n, s.mean_prompt_tokens,
                            s.mean_completion_tokens, s.latency_p50_s, c.cost_per_call, c.cost_per_month, c.currency,
                            result.run_id, {r.example_id: r.score for r in o.rows}))
    return points


def climb_models(task: Task | str | Path, models: Sequence[ModelChoice] | None = None,
                 options: ClimbOptions | None = None, *, progress: ProgressSink | None = None) -> MultiClimbResult:
    """Climb the ladder for each model on the same eval rows, then build the frontier and add it to each run's
    stored record. `models` None: the task's `[[models]]`, as `rungwise climb TASK` climbs them. The task's
    `[model] timeout_s`/`retries` apply to every model unless `options` sets them."""
    options = options or ClimbOptions()
    task = task if isinstance(task, Task) else Task.load(task)
    if models is None:
        models = models_from_task(task)
    if not models:
        raise TaskError("No model to climb: give --model (once or more) or [[models]] in task.toml.")
    models = labelled(list(models))  # a choice without a label is called by its name or spec
    results: list[ClimbResult] = []
    for choice in models:
        sink = _prefixed(progress, choice.label) if progress is not None and len(models) > 1 else progress
        model = choice.resolve(concurrency=options.concurrency)
        results.append(ClimbJob(priced_task(task, choice), model, options, progress=sink).run())
    frontier = None
    if not options.dry_run:
        frontier = build_frontier([p for c, r in zip(models, results, strict=True) for p in points_of(c.label, r)],
                                  task.spec.target)
        _record_frontier(options, results, frontier)
    return MultiClimbResult([c.label for c in models], results, frontier)


def _prefixed(sink: ProgressSink, label: str) -> ProgressSink:
    def forward(event: ProgressEvent) -> None:
        sink(dataclasses.replace(event, name=f"{label}: {event.name}"))

    return forward


def _record_frontier(options: ClimbOptions, results: list[ClimbResult], frontier: Frontier) -> None:
    """Add the frontier to each run's record, so `rungwise report RUN` and `show RUN` show it."""
    from rungwise.outputs import finite
    from rungwise.record.stored import load_report, save_report
    from rungwise.store import Store

    with Store(options.store_path) as store:
        for r in results:
            report = load_report(store, r.run_id)
            report = report.model_copy(update={"result": report.result.model_copy(
                update={"frontier": finite(frontier.to_dict())})})
            save_report(store, report)
