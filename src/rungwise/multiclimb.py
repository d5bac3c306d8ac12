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

from rungwise.climb import ClimbJob, ClimbResult
from rungwise.errors import TaskError
from rungwise.frontier import Frontier, Point, build_frontier
from rungwise.models.base import Model
from rungwise.models.registry import resolve_model
from rungwise.models.urls import redact_url
from rungwise.options import ClimbOptions
from rungwise.progress import ProgressEvent, ProgressSink
from rungwise.task import Task

__all__ = ["ModelChoice", "MultiClimbResult", "climb_models", "model_choices", "models_from_cli", "models_from_task",
           "points_of"]


@dataclass(frozen=True)
class ModelChoice:
    """One model of a multi-model climb: where it is, what reports call it, its prices and limits (None: the
    task's own), and optionally the live `Model` (the Python API's way to pass one already made)."""

    spec: str
    """`local`, `fake` or an OpenAI-compatible base URL."""
    name: str | None = None
    label: str = ""
    api_key_env: str | None = None
    input_price_per_million: float | None = None
    output_price_per_million: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    model: Model | None = None
    capabilities: str | None = None
    """A forced capability profile (see `models.base.PROFILES`); None: discovered."""

    def resolve(self, *, concurrency: int | None = None, capabilities: str | None = None) -> Model:
        """The model to climb: the live one given, else one resolved from the spec."""
        if self.model is not None:
            return self.model
        return resolve_model(self.spec, model_name=self.name, api_key_env=self.api_key_env, concurrency=concurrency,
                             rpm=self.rpm, tpm=self.tpm, capabilities=capabilities or self.capabilities)


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _labelled(choices: list[ModelChoice]) -> list[ModelChoice]:
    """Every choice with a label: its own, else its name (or its spec); repeated default labels get the host."""
    def default(c: ModelChoice) -> str:
        return c.label or c.name or c.spec

    counts: dict[str, int] = {}
    for c in choices:
        counts[default(c)] = counts.get(default(c), 0) + 1
    out: list[ModelChoice] = []
    for i, c in enumerate(choices, start=1):
        label = default(c)
        if not c.label and counts[label] > 1:
            label = f"{label} @ {redact_url(c.spec).split('//', 1)[-1].removesuffix('/v1')}" if _is_url(c.spec) else f"{label} #{i}"
        out.append(dataclasses.replace(c, label=label))
    seen: set[str] = set()
    for c in out:
        if c.label in seen:
            raise TaskError(f"Two models are both called {c.label!r}: give them different labels "
                            "([[models]] label = \"...\" in task.toml).")
        seen.add(c.label)
    return out


def models_from_cli(models: Sequence[str], names: Sequence[str] = (), *, api_key_env: str | None = None) -> list[ModelChoice]:
    """The models of `--model` given once or more. A URL takes its model name inline (`URL#name`) or from
    `--model-name`: the n-th name goes to the n-th URL without an inline name (`local` takes none)."""
    specs: list[tuple[str, str | None]] = []
    for raw in models:
        spec, sep, inline = raw.partition("#")
        spec = spec.strip()
        if sep and not inline.strip():
            raise TaskError(f"--model {redact_url(raw)!r}: nothing after '#'; write URL#name, e.g. "
                            "http://localhost:8000/v1#my-model.")
        if sep and not _is_url(spec):
            raise TaskError(f"--model {raw!r}: only a URL takes a name after '#'.")
        specs.append((spec, inline.strip() or None))
    if len(specs) == 1:  # one model: as it always was, the name goes to it
        if len(names) > 1:
            raise TaskError(f"{len(names)} --model-name for one --model: give one name per endpoint URL.")
        only, named = specs[0]
        name = named or (names[0] if names else None)
        return [ModelChoice(only, name, label=name or only, api_key_env=api_key_env)]
    wanting = [i for i, (spec, name) in enumerate(specs) if _is_url(spec) and name is None]
    if len(names) > len(wanting):
        raise TaskError(
            f"{len(names)} --model-name given for {len(wanting)} endpoint URL{'s' if len(wanting) != 1 else ''} "
            "without a name: each --model-name names the next --model URL in order (local takes none), or write "
            "URL#name.")
    if len(names) < len(wanting):
        spec = specs[wanting[len(names)]][0]
        raise TaskError(f"--model {redact_url(spec)} has no model name: add a --model-name for it (names go to the "
                        "URLs in order) or write URL#name.")
    given = dict(zip(wanting, names, strict=False))
    choices = [ModelChoice(spec, name if name is not None else given.get(i), api_key_env=api_key_env if _is_url(spec) else None)
               for i, (spec, name) in enumerate(specs)]
    return _labelled(choices)


def models_from_task(task: Task) -> list[ModelChoice]:
    """The models of task.toml's `[[models]]` (validated when the task loaded)."""
    return _labelled([ModelChoice(m.url, m.name, m.label or "", m.api_key_env, m.input_price_per_million,
                                  m.output_price_per_million, m.rpm, m.tpm) for m in task.spec.models])


def model_choices(task: Task, models: Sequence[str] = (), names: Sequence[str] = (), *, api_key_env: str | None = None,
                  rpm: int | None = None, tpm: int | None = None, capabilities: str | None = None) -> list[ModelChoice]:
    """The models `rungwise climb` climbs: those given (`models_from_cli`), else the task's `[[models]]`, else the
    embedded model; `rpm`/`tpm`/`capabilities` given win over the task's and each entry's."""
    choices = models_from_cli(models, names, api_key_env=api_key_env) if models else models_from_task(task)
    return [dataclasses.replace(c, rpm=rpm or c.rpm, tpm=tpm or c.tpm, capabilities=capabilities or c.capabilities)
            for c in choices or models_from_cli(["local"])]


def priced_task(task: Task, choice: ModelChoice) -> Task:
    """A copy of `task` whose prices and limits are `choice`'s where it sets them (the caller's task unchanged)."""
    spec = task.spec
    costs = spec.costs.model_copy(update={k: v for k, v in (
        ("input_price_per_million", choice.input_price_per_million),
        ("output_price_per_million", choice.output_price_per_million)) if v is not None})
    limits = spec.model.model_copy(update={k: v for k, v in (("rpm", choice.rpm), ("tpm", choice.tpm)) if v is not None})
    return dataclasses.replace(task, spec=spec.model_copy(update={"costs": costs, "model": limits}))


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
    models = _labelled(list(models))  # a choice without a label is called by its name or spec
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
    from rungwise.report.record import load_report, save_report
    from rungwise.store import Store

    with Store(options.store_path) as store:
        for r in results:
            report = load_report(store, r.run_id)
            report = report.model_copy(update={"result": report.result.model_copy(
                update={"frontier": finite(frontier.to_dict())})})
            save_report(store, report)
