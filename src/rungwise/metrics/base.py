"""The metric contract and its registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from rungwise.task.data import Example

if TYPE_CHECKING:
    from rungwise.task.spec import Task

Failure = Literal["format", "content"]


class Metric(ABC):
    """Scores one parsed answer against one example, from 0 to 1.

    `binary` metrics score 0 or 1 (their intervals are Wilson's and their paired test McNemar's); graded ones
    score anything in between (bootstrap). `zero_failure` is what a score below 1 counts as: `content` (well
    formed, wrong) unless the metric checks the answer's form itself (a regex).
    """

    name: str = ""
    binary: bool = True
    zero_failure: Failure = "content"

    @abstractmethod
    def score(self, answer: str, example: Example) -> float:
        """The answer's score against the example."""

    def extras(self, answer: str, example: Example) -> dict[str, float]:
        """Further per-row numbers worth averaging (exact match beside token F1, say)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the metric holds (a worker process)."""


#: builds a metric for a task (a task carries the metric's settings: a regex pattern, a custom function)
MetricFactory = Callable[["Task"], Metric]
_REGISTRY: dict[str, MetricFactory] = {}


def register_metric(name: str) -> Callable[[MetricFactory], MetricFactory]:
    """Register a metric factory under `name` (a decorator)."""

    def add(factory: MetricFactory) -> MetricFactory:
        _REGISTRY[name] = factory
        return factory

    return add


def registered_metrics() -> list[str]:
    return sorted(_REGISTRY)


def resolve_metric(task: Task) -> Metric:
    """The task's metric, built from the registry."""
    from rungwise.errors import TaskError

    name = task.spec.metric_name
    factory = _REGISTRY.get(name)
    if factory is None:
        raise TaskError(f"{task.folder / 'task.toml'}, field 'metric.name': unknown metric {name!r}. "
                        f"Metrics: {', '.join(registered_metrics())}.")
    return factory(task)
