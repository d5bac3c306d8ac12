"""Parse a model's output per the task's output spec, score it, and say why it failed.

A failure is `format` when the output breaks the output spec (not a label, invalid JSON, missing required
fields, empty) and `content` when it is well-formed but wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from rungwise.errors import MetricError, RungwiseError
from rungwise.metrics import Metric, resolve_metric
from rungwise.metrics.base import Failure
from rungwise.metrics.builtin import checked_score
from rungwise.metrics.text import json_field_f1, normalize_exact, squad_normalize, token_f1
from rungwise.task.data import Example, label_key
from rungwise.task.spec import Task

__all__ = ["Failure", "Scored", "Scorer", "extract_json", "json_field_f1", "label_lookup", "normalize_exact",
           "parse_label", "squad_normalize", "token_f1"]




@dataclass(frozen=True)
class Scored:
    score: float
    failure: Failure | None
    parsed: str | None = None
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.failure is None


# -- labels -------------------------------------------------------------------------------------


def _label_key(text: str) -> str:
    return label_key(text)


def label_lookup(labels: list[str]) -> dict[str, str]:
    """Folded label -> label, built once per task."""
    return {_label_key(label): label for label in labels}


def parse_label(output: str, labels: list[str] | dict[str, str]) -> str | None:
    """The label the output names: its first non-blank line, trimmed of quotes and punctuation,
    matched case-insensitively. None when it is not a label. `labels` may be a prebuilt `label_lookup`."""
    lookup = labels if isinstance(labels, dict) else label_lookup(labels)
    for line in output.splitlines():
        if line.strip():
            candidate = _label_key(line)
            if candidate in lookup:
                return lookup[candidate]
            # "Label: card_arrival" or "Intent - card_arrival"
            tail = re.split(r"[:=\-]\s*", line.strip(), maxsplit=1)
            if len(tail) == 2 and _label_key(tail[1]) in lookup:
                return lookup[_label_key(tail[1])]
            return None
    return None


# -- JSON ---------------------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json(output: str) -> Any | None:
    """The first JSON object in the output: inside a code fence, or the first balanced {...}."""
    candidates = [m.group(1) for m in _FENCE.finditer(output)] + [output]
    for text in candidates:
        text = text.strip()
        try:
            return json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            pass
        start = text.find("{")
        while start != -1:
            depth, in_str, esc = 0, False, False
            for i in range(start, len(text)):
                ch = text[i]
                if in_str:
                    if esc:
                        esc = False
                    elif ch == "\\":
                        esc = True
                    elif ch == '"':
                        in_str = False
                elif ch == '"':
                    in_str = True
                elif ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        try:
                            return json.loads(text[start : i + 1])
                        except (json.JSONDecodeError, RecursionError):
                            break
            start = text.find("{", start + 1)
    return None


# -- the scorer ---------------------------------------------------------------------------------


class Scorer:
    """Scores outputs for one task: parses the output per the output spec (a failure to parse is a `format`
    failure), then asks the task's metric (see `rungwise.metrics`). Built once per task."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.metric_impl: Metric = resolve_metric(task)
        self.metric = task.spec.metric_name
        self.binary = self.metric_impl.binary
        self._labels = label_lookup(task.labels) if task.labels is not None else {}
        schema = task.spec.output.json_schema or {}
        self._required = [str(r) for r in schema.get("required", [])] if isinstance(schema, dict) else []

    def close(self) -> None:
        self.metric_impl.close()

    def score(self, output: str, example: Example) -> Scored:
        kind = self.task.spec.output.type
        if kind == "label":
            label = parse_label(output, self._labels)
            if label is None:
                return Scored(0.0, "format", None)
            return self._scored(label, example, label)
        if kind == "json":
            obj = extract_json(output)
            if not isinstance(obj, dict):
                return Scored(0.0, "format", None, {"valid": 0.0})
            missing = [r for r in self._required if r not in obj]
            parsed = json.dumps(obj, ensure_ascii=False, sort_keys=True)
            if missing:
                return Scored(0.0, "format", parsed, {"valid": 0.0})
            scored = self._scored(parsed, example, parsed)
            return Scored(scored.score, scored.failure, parsed, {"valid": 1.0, **scored.extras})
        text = output.strip()
        if not text:
            return Scored(0.0, "format", None)
        return self._scored(text, example, text)

    def _scored(self, answer: str, example: Example, parsed: str) -> Scored:
        metric = self.metric_impl
        where = f"{self.task.folder / 'eval.jsonl'}, row {example.id}"
        try:
            s = checked_score(metric.score(answer, example), where)
            extras = metric.extras(answer, example)
        except RungwiseError:
            raise
        except Exception as exc:
            raise MetricError(f"{where}: the metric {self.metric!r} raised {type(exc).__name__}: {exc}") from None
        failure: Failure | None = None if s >= 1.0 else metric.zero_failure if s == 0.0 else "content"
        return Scored(s, failure, parsed, extras)
