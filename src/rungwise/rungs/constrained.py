"""Constrained output: the answer forced into the label set or the task's JSON schema by the backend.

The constraint goes the way the server takes it (its capabilities, found once by `open()`): a label set as a GBNF
grammar where there are grammars (llama.cpp, SGLang), else as a closed choice (`Request.choice`: vLLM's guided
choice, or a JSON-schema enum the backend reads the label back from); a JSON task's schema as a JSON schema. A
backend with none of these gets no constrained variant: it is skipped, not faked, and `why_unconstrained` says why.

`constrained_twin` is the one way a rung adds the constrained twin of a variant. A twin's budget covers the
longest spelling the grammar allows (a model may spell a label in more, smaller tokens than its canonical
tokenization; the grammar ends the answer itself), and for label grammars it says which unconstrained answers
the constraint cannot change (`fits`): greedy decoding under a grammar picks the unconstrained token whenever
the grammar allows it, so an answer that already is a label (and no prefix of another) comes back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from rungwise.models.base import ModelInfo, Request
from rungwise.models.constraints import choice_grammar
from rungwise.rungs.base import GenerationBudget, Variant
from rungwise.task.data import Example
from rungwise.task.spec import Task

#: an inferred schema lists a field's values as an enum when train shows at most this many over enough rows
ENUM_MAX_VALUES = 8
ENUM_MIN_ROWS = 30


def label_grammar(labels: list[str]) -> str:
    return choice_grammar(labels)


def infer_json_schema(targets: list[str]) -> tuple[dict[str, Any], str] | None:
    """A JSON schema that every train target satisfies: its keys with their types, and closed value sets where
    train shows few values. Extra keys stay allowed (an eval answer may use a key train never shows)."""
    objects = []
    for t in targets:
        try:
            obj = json.loads(t)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            objects.append(obj)
    if not objects:
        return None
    names = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array", "dict": "object"}
    properties: dict[str, Any] = {}
    keys = sorted({k for o in objects for k in o})
    for key in keys:
        values = [o[key] for o in objects if key in o]
        types = {names.get(type(v).__name__, "null") for v in values}
        prop: dict[str, Any] = {"type": types.pop()} if len(types) == 1 else {}
        if prop.get("type") in ("string", "integer") and len(values) >= ENUM_MIN_ROWS:
            distinct = Counter(json.dumps(v) for v in values)
            if len(distinct) <= ENUM_MAX_VALUES:
                prop["enum"] = sorted({v for v in values}, key=str)
        properties[key] = prop
    schema = {"type": "object", "properties": properties}
    return schema, f"inferred from {len(objects)} train targets ({len(keys)} keys; extra keys allowed)"


def task_json_schema(task: Task) -> dict[str, Any] | None:
    """The schema a json task's answers are constrained to: the task's own, its fields, or inferred from train."""
    found = json_constraint_schema(task)
    return found[0] if found else None


def json_constraint_schema(task: Task) -> tuple[dict[str, Any], str] | None:
    out = task.spec.output
    if out.type != "json":
        return None
    if out.json_schema:
        return out.json_schema, "the task's schema"
    if task.json_fields:
        fields = task.json_fields
        return ({"type": "object", "properties": {f: {"type": "string"} for f in fields}, "additionalProperties": False},
                "the task's fields")
    return infer_json_schema([ex.target for ex in task.train])


def constraint_for(task: Task, info: ModelInfo) -> dict[str, Any] | None:
    """The Request fields that constrain this task's output on this model, or None when it cannot."""
    kind = task.spec.output.type
    caps = info.capabilities
    if kind == "label" and task.labels:
        if caps.grammar:
            return {"grammar": label_grammar(task.labels)}
        if caps.choice or caps.json_schema:  # guided choice, or a JSON-schema enum the backend unwraps
            return {"choice": tuple(task.labels)}
    if kind == "json" and caps.json_schema:
        found = json_constraint_schema(task)
        if found is not None:
            return {"json_schema": found[0]}
    return None


def constrained(request: Request, constraint: dict[str, Any]) -> Request:
    """The same request with the output constrained. A label grammar needs no stop at a newline."""
    return dataclasses.replace(request, **constraint)


def constrained_budget(task: Task, budget: GenerationBudget) -> int:
    """Tokens a constrained answer may take: for labels, the longest label in bytes (one token per byte is the
    longest spelling any tokenizer allows) plus a margin; for JSON, twice the unconstrained budget."""
    if task.spec.output.type == "label" and task.labels:
        return max(budget.max_tokens, max(len(label.encode("utf-8")) for label in task.labels) + 4)
    return budget.max_tokens * 2


def _label_fits(labels: list[str]) -> Callable[[str], bool]:
    allowed = set(labels)
    prefixes = {label[:i] for label in labels for i in range(1, len(label))}

    def fits(text: str) -> bool:
        return text in allowed and text not in prefixes

    return fits


def constrained_twin(variant: Variant, task: Task, info: ModelInfo, budget: GenerationBudget) -> Variant | None:
    """The variant with its output constrained to the spec, or None when the task turns it off, the output is
    free text, or the backend cannot constrain."""
    if not task.spec.output.constrained or variant.build is None:
        return None
    constraint = constraint_for(task, info)
    if constraint is None:
        return None
    build = variant.build
    max_tokens = constrained_budget(task, budget)

    def twin_build(ex: Example) -> Request:
        return dataclasses.replace(build(ex), max_tokens=max_tokens, **constraint)

    config: dict[str, Any] = {k: v for k, v in variant.config.items() if k != "adapter"}
    config["constraint"] = sorted(constraint)
    config["method"] = info.capabilities.dialect
    if "adapter" in variant.config:
        config["adapter_of"] = variant.name
    if task.spec.output.type == "json":
        found = json_constraint_schema(task)
        config["schema_source"] = found[1] if found else None
    fits = _label_fits(task.labels) if "grammar" in constraint and task.labels else None
    return Variant(f"{variant.name}-constrained", variant.rung, twin_build, config=config, model=variant.model,
                   purpose=variant.purpose, annotate=variant.annotate, retrieval=variant.retrieval,
                   twin_of=variant.name, fits=fits)


def with_constrained_twin(variant: Variant, task: Task, info: ModelInfo, budget: GenerationBudget) -> list[Variant]:
    """[variant] plus its constrained twin where there is one."""
    twin = constrained_twin(variant, task, info, budget)
    return [variant] if twin is None else [variant, twin]


def why_unconstrained(task: Task, info: ModelInfo) -> str | None:
    """Why this task gets no constrained variants on this model, or None when it gets them."""
    if not task.spec.output.constrained:
        return "turned off in task.toml ([output] constrained = false)"
    if task.spec.output.type == "text":
        return "free-text output has nothing to constrain"
    if task.spec.output.type == "json" and json_constraint_schema(task) is None:
        return "no schema, fields or JSON train targets to build a schema from"
    if constraint_for(task, info) is not None:
        return None
    caps = info.capabilities
    forced = f", {caps.source}" if caps.source != "discovered" else ""
    return (f"the server ({info.server_kind}{forced}) takes no constraint on its output: no grammar, guided "
            "choice or JSON schema")
