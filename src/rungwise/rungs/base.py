"""What a rung is: a value with one verb, `prepare(task, context) -> [Variant]`.

A Variant turns one eval example into one request (or, for a no-LLM reference, straight into an answer).
Adding a rung means adding one file to this folder and one line to LADDER in rungs/__init__.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rungwise.data import Example
from rungwise.models.base import Model, Request
from rungwise.task import Task


class RungSkipped(Exception):
    """A rung that does not apply to this task (no train pool, no corpus, no backend). Carries the reason."""


@dataclass(frozen=True)
class GenerationBudget:
    """How much a call may generate, derived from the output spec: the cheapest speed-up there is."""

    max_tokens: int
    stop: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class Variant:
    """One configuration scored on the eval set."""

    name: str
    rung: str
    build: Callable[[Example], Request] | None = None
    #: a reference that answers without an LLM (e.g. the label of the nearest train row)
    answer: Callable[[Example], str] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: a variant that brings its own model (fine-tuning); None means the ladder's model
    model: Model | None = None
    #: a probe or reference, not a step of the ladder (oracle context, kNN classifier)
    probe: bool = False
    #: extra per-example numbers a variant records (retrieval recall, ...)
    annotate: Callable[[Example], dict[str, float]] | None = None


@dataclass
class RungContext:
    """What rungs may use besides the task: the model, the budget, shared lazy resources."""

    model: Model
    budget: GenerationBudget
    cache_dir: Any = None
    #: a dry run calls no model and trains nothing: rungs that would must skip
    dry_run: bool = False
    #: lazily built, shared across rungs (embedder, indexes, kNN selectors, models to close), keyed freely
    resources: dict[Any, Any] = field(default_factory=dict)


class Rung(ABC):
    name: str = ""

    @abstractmethod
    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        """Build this rung's variants for the task, or raise RungSkipped saying why it does not apply."""
