"""The built-in metrics, registered like any other."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from rungwise.metrics.base import Failure, Metric, register_metric
from rungwise.metrics.text import json_field_f1, normalize_exact, squad_normalize, token_f1
from rungwise.task.data import Example

if TYPE_CHECKING:
    from rungwise.task.spec import Task

#: seconds a regex may spend on one answer before the row counts as a failure (a catastrophic pattern such as
#: `(a+)+$` would otherwise spin for hours)
REGEX_TIMEOUT_S = 1.0


class ExactMatch(Metric):
    """The answer equals one of the example's answers, case-folded, whitespace collapsed, quotes and a final
    period dropped."""

    name = "exact_match"

    def score(self, answer: str, example: Example) -> float:
        return float(any(normalize_exact(answer) == normalize_exact(a) for a in example.answers))


class Accuracy(ExactMatch):
    """For labels: the parsed label is the example's; for text, the same as exact_match."""

    name = "accuracy"


class TokenF1(Metric):
    """SQuAD's token F1 against the best of the example's answers; records exact match and containment too."""

    name = "token_f1"
    binary = False

    def score(self, answer: str, example: Example) -> float:
        return max(token_f1(answer, a) for a in example.answers)

    def extras(self, answer: str, example: Example) -> dict[str, float]:
        norm = squad_normalize(answer)
        return {"exact_match": float(any(norm == squad_normalize(a) for a in example.answers)),
                "contains_answer": float(any(squad_normalize(a) in norm for a in example.answers))}


class JsonFieldF1(Metric):
    """Field-level F1 of the answer object against the target object."""

    name = "json_f1"
    binary = False

    def score(self, answer: str, example: Example) -> float:
        try:
            pred = json.loads(answer)
            gold = json.loads(example.target)
        except json.JSONDecodeError:
            return float(normalize_exact(answer) == normalize_exact(example.target))
        if not isinstance(pred, dict) or not isinstance(gold, dict):
            return float(pred == gold)
        return json_field_f1(pred, gold)


class RegexMatch(Metric):
    """The answer matches the task's pattern in full; an answer that does not is a format failure. Each match
    runs under a timeout, so a catastrophic pattern costs a row, not the climb."""

    name = "regex"
    zero_failure: Failure = "format"

    def __init__(self, pattern: str, timeout_s: float = REGEX_TIMEOUT_S) -> None:
        import regex

        self._pattern = regex.compile(pattern)
        self.timeout_s = timeout_s

    def score(self, answer: str, example: Example) -> float:
        try:
            return float(self._pattern.fullmatch(answer, timeout=self.timeout_s) is not None)
        except TimeoutError:
            return 0.0


@register_metric("accuracy")
def _accuracy(task: Task) -> Metric:
    return Accuracy()


@register_metric("exact_match")
def _exact(task: Task) -> Metric:
    return ExactMatch()


@register_metric("token_f1")
def _token_f1(task: Task) -> Metric:
    return TokenF1()


@register_metric("json_f1")
def _json_f1(task: Task) -> Metric:
    return JsonFieldF1()


@register_metric("regex")
def _regex(task: Task) -> Metric:
    assert task.spec.metric.pattern is not None
    return RegexMatch(task.spec.metric.pattern, min(REGEX_TIMEOUT_S, task.spec.metric.timeout_s))


@register_metric("custom")
def _custom(task: Task) -> Metric:
    from rungwise.metrics.custom import CustomMetric

    return CustomMetric.for_task(task)


def checked_score(value: object, where: str) -> float:
    """A metric's return value as a score, or a MetricError saying what came back and where."""
    from rungwise.errors import MetricError

    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MetricError(f"{where}: the metric returned {value!r:.80}, not a number from 0 to 1.") from None
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise MetricError(f"{where}: the metric returned {number}; it must return a number from 0 to 1.")
    return number
