"""Which models a climb climbs, and at which prices: `--model` (URL#name, or the n-th --model-name), else the
task's `[[models]]`, else the embedded model; each entry's prices and limits, and the task priced at them.
`engine.job` (one model) and `engine.multi` (several, and the frontier) both read it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from rungwise.errors import TaskError
from rungwise.models.base import Model
from rungwise.models.registry import resolve_model
from rungwise.models.urls import redact_url
from rungwise.task.spec import Task


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
    base_weights: str | None = None
    """The model's Hugging Face folder for the fine-tune rung; None: the task's [finetune] base_weights."""
    base_gguf: str | None = None
    """The model's GGUF (a llama.cpp endpoint) for the fine-tune rung; None: the task's [finetune] base_gguf."""

    def resolve(self, *, concurrency: int | None = None, capabilities: str | None = None) -> Model:
        """The model to climb: the live one given, else one resolved from the spec."""
        if self.model is not None:
            return self.model
        return resolve_model(self.spec, model_name=self.name, api_key_env=self.api_key_env, concurrency=concurrency,
                             rpm=self.rpm, tpm=self.tpm, capabilities=capabilities or self.capabilities)


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def labelled(choices: list[ModelChoice]) -> list[ModelChoice]:
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
    return labelled(choices)


def models_from_task(task: Task) -> list[ModelChoice]:
    """The models of task.toml's `[[models]]` (validated when the task loaded)."""
    return labelled([ModelChoice(m.url, m.name, m.label or "", m.api_key_env, m.input_price_per_million,
                                  m.output_price_per_million, m.rpm, m.tpm, base_weights=m.base_weights,
                                  base_gguf=m.base_gguf) for m in task.spec.models])


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
    finetune = spec.finetune.model_copy(update={k: v for k, v in (("base_weights", choice.base_weights),
                                                                  ("base_gguf", choice.base_gguf)) if v is not None})
    return dataclasses.replace(task, spec=spec.model_copy(update={"costs": costs, "model": limits,
                                                                  "finetune": finetune}))
