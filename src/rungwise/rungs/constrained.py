"""Constrained output: the answer forced into the label set or the task's JSON schema by the backend.

llama.cpp takes a GBNF grammar (labels) or a JSON schema; OpenAI-compatible servers take `response_format`
with a JSON schema. A backend without the capability gets no constrained variant: it is skipped, not faked.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from rungwise.models.base import Model, Request
from rungwise.task import Task


def _gbnf_literal(text: str) -> str:
    return json.dumps(text)  # GBNF string literals share JSON's escapes for quotes, backslashes and controls


def label_grammar(labels: list[str]) -> str:
    return "root ::= " + " | ".join(_gbnf_literal(label) for label in labels)


def task_json_schema(task: Task) -> dict[str, Any] | None:
    out = task.spec.output
    if out.type != "json":
        return None
    if out.json_schema:
        return out.json_schema
    fields = task.json_fields or []
    return {"type": "object", "properties": {f: {"type": "string"} for f in fields}, "additionalProperties": False}


def constraint_for(task: Task, model: Model) -> dict[str, Any] | None:
    """The Request fields that constrain this task's output on this model, or None when it cannot."""
    kind = task.spec.output.type
    if kind == "label" and task.labels:
        if model.supports_grammar:
            return {"grammar": label_grammar(task.labels)}
        if model.supports_json_schema:
            return {"json_schema": {"type": "string", "enum": list(task.labels)}}
    if kind == "json" and model.supports_json_schema:
        return {"json_schema": task_json_schema(task)}
    return None


def constrained(request: Request, constraint: dict[str, Any]) -> Request:
    """The same request with the output constrained. A label grammar needs no stop at a newline."""
    return dataclasses.replace(request, **constraint)


def why_unconstrained(task: Task, model: Model) -> str:
    if task.spec.output.type == "text":
        return "free-text output has nothing to constrain"
    return f"the backend ({model.name}) supports neither grammars nor JSON schemas"
