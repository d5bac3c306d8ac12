"""Parse a model's output per the task's output spec, score it, and say why it failed.

A failure is `format` when the output breaks the output spec (not a label, invalid JSON, missing required
fields, empty) and `content` when it is well-formed but wrong.
"""

from __future__ import annotations

import importlib
import json
import re
import string
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rungwise.data import Example
from rungwise.errors import TaskError
from rungwise.task import Task

Failure = Literal["format", "content"]
BINARY_METRICS = {"accuracy", "exact_match", "regex"}

_TRIM = " \t\r\n\"'`*.,;:!?()[]{}<>"


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
    return re.sub(r"\s+", " ", text.strip(_TRIM)).casefold()


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


def _norm_value(v: Any) -> str:
    if isinstance(v, str):
        return re.sub(r"\s+", " ", v.strip()).casefold()
    return json.dumps(v, sort_keys=True)


def json_field_f1(pred: dict[str, Any], gold: dict[str, Any]) -> float:
    """Field-level F1: a field counts when the key exists in both and the values match after normalising."""
    if not pred and not gold:
        return 1.0
    matched = sum(1 for k, v in gold.items() if k in pred and _norm_value(pred[k]) == _norm_value(v))
    if matched == 0:
        return 0.0
    precision, recall = matched / len(pred), matched / len(gold)
    return 2 * precision * recall / (precision + recall)


# -- text (SQuAD-style) -------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(pred: str, gold: str) -> float:
    p, g = squad_normalize(pred).split(), squad_normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def normalize_exact(text: str) -> str:
    """Exact match, normalised: case-folded, whitespace collapsed, wrapping quotes and a final period dropped."""
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip("\"'`")
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    return " ".join(text.split()).casefold()


# -- the scorer ---------------------------------------------------------------------------------


class Scorer:
    """Scores outputs for one task. Built once per task: resolves the metric and any custom function."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.metric = task.spec.metric_name
        self.binary = self.metric in BINARY_METRICS
        self._custom: Callable[[str, dict[str, Any]], float] | None = None
        self._pattern = re.compile(task.spec.metric.pattern) if task.spec.metric.pattern else None
        if self.metric == "custom":
            self._custom = load_custom_metric(task)
        self._labels = label_lookup(task.labels) if task.labels is not None else {}
        schema = task.spec.output.json_schema or {}
        self._required = [str(r) for r in schema.get("required", [])] if isinstance(schema, dict) else []

    def score(self, output: str, example: Example) -> Scored:
        kind = self.task.spec.output.type
        if kind == "label":
            label = parse_label(output, self._labels)
            if label is None:
                return Scored(0.0, "format", None)
            ok = label == example.target
            return Scored(float(ok), None if ok else "content", label)
        if kind == "json":
            obj = extract_json(output)
            if not isinstance(obj, dict):
                return Scored(0.0, "format", None, {"valid": 0.0})
            missing = [r for r in self._required if r not in obj]
            parsed = json.dumps(obj, ensure_ascii=False, sort_keys=True)
            if missing:
                return Scored(0.0, "format", parsed, {"valid": 0.0})
            if self.metric == "json_f1":
                gold = json.loads(example.target)
                s = json_field_f1(obj, gold)
                return Scored(s, None if s >= 1.0 else "content", parsed, {"valid": 1.0})
            return self._generic(parsed, example, parsed)
        text = output.strip()
        if not text:
            return Scored(0.0, "format", None)
        return self._generic(text, example, text)

    def _generic(self, text: str, example: Example, parsed: str) -> Scored:
        answers = example.answers
        extras: dict[str, float] = {}
        if self.metric == "exact_match" or self.metric == "accuracy":
            s = float(any(normalize_exact(text) == normalize_exact(a) for a in answers))
        elif self.metric == "token_f1":
            s = max(token_f1(text, a) for a in answers)
            extras["exact_match"] = float(any(squad_normalize(text) == squad_normalize(a) for a in answers))
            extras["contains_answer"] = float(any(squad_normalize(a) in squad_normalize(text) for a in answers))
        elif self.metric == "regex":
            assert self._pattern is not None
            s = float(self._pattern.fullmatch(text) is not None)
            if not s:
                return Scored(0.0, "format", parsed)
        elif self.metric == "custom":
            assert self._custom is not None
            s = _call_custom(self._custom, text, example)
        else:  # json_f1 on a text task is rejected at load time; keep the scorer total anyway
            s = float(normalize_exact(text) == normalize_exact(example.target))
        return Scored(s, None if s >= 1.0 else "content", parsed, extras)


def load_custom_metric(task: Task) -> Callable[[str, dict[str, Any]], float]:
    spec = task.spec.metric.function or ""
    module_name, _, func_name = spec.partition(":")
    folder = str(task.folder.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise TaskError(
            f"{task.folder / 'task.toml'}, field 'metric.function': cannot import module {module_name!r} "
            f"({type(exc).__name__}: {exc}). Put {module_name}.py in the task folder or on PYTHONPATH."
        ) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise TaskError(f"{task.folder / 'task.toml'}, field 'metric.function': {module_name} has no function {func_name!r}.")
    return func  # type: ignore[no-any-return]


def _call_custom(func: Callable[[str, dict[str, Any]], float], text: str, example: Example) -> float:
    row = {"id": example.id, "input": example.input, "target": example.target, **example.meta}
    try:
        value = float(func(text, row))
    except Exception as exc:
        raise TaskError(f"the custom metric raised {type(exc).__name__}: {exc}") from None
    if not 0.0 <= value <= 1.0:
        raise TaskError(f"the custom metric returned {value}; it must return a number from 0 to 1.")
    return value
