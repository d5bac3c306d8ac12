"""How a constraint on the output travels to each kind of server (its *dialect*), and how an answer constrained
by a JSON-schema enum is read back. One line per dialect of the request fields each sends (docs/endpoints.md):

    llama.cpp           grammar (GBNF) | json_schema                         top-level fields
    structured_outputs  structured_outputs: {choice} | {json}                vLLM >= 0.11 (guided_* removed in 0.12)
    guided              guided_choice | guided_json                          vLLM before 0.11
    sglang              ebnf (GBNF) | response_format json_schema            SGLang
    response_format     response_format: {type: json_schema, json_schema}    OpenAI, Ollama, most hosted APIs

A label set (`Request.choice`) on a server with neither grammars nor guided choice becomes a JSON-schema enum
inside an object (`{"answer": <one of the labels>}`: strict structured outputs want an object at the top); the
answer is taken back out of the JSON, so the row is scored on the label itself.
"""

from __future__ import annotations

import json
from typing import Any

from rungwise.errors import CapabilityMissing
from rungwise.models.base import Request

#: the key an enum-wrapped label answer carries
ANSWER_KEY = "answer"
#: tokens the JSON wrapper of an enum answer takes beyond the label itself (`{"answer": "` and `"}`)
WRAPPER_TOKENS = 16


def choice_grammar(choices: tuple[str, ...] | list[str]) -> str:
    """A GBNF grammar that accepts exactly one of `choices` (GBNF literals share JSON's escapes)."""
    return "root ::= " + " | ".join(json.dumps(c) for c in choices)


def choice_schema(choices: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """A JSON schema whose only valid documents are `{"answer": <one of choices>}`."""
    return {"type": "object", "properties": {ANSWER_KEY: {"type": "string", "enum": list(choices)}},
            "required": [ANSWER_KEY], "additionalProperties": False}


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}


def constraint_fields(request: Request, dialect: str) -> tuple[dict[str, Any], bool]:
    """The body fields that carry `request`'s constraint in `dialect`, and whether the answer comes back wrapped
    in `{"answer": ...}` (a choice sent as a JSON-schema enum)."""
    fields: dict[str, Any] = {}
    wrapped = False
    if request.choice is not None:
        choices = list(request.choice)
        if dialect == "llama.cpp":
            fields["grammar"] = choice_grammar(choices)
        elif dialect == "structured_outputs":
            fields["structured_outputs"] = {"choice": choices}
        elif dialect == "guided":
            fields["guided_choice"] = choices
        elif dialect == "sglang":
            fields["ebnf"] = choice_grammar(choices)
        elif dialect == "response_format":
            fields["response_format"] = response_format(choice_schema(choices))
            wrapped = True
        else:
            raise CapabilityMissing("This server takes no constraint on its output (no grammar, guided choice or "
                                    "JSON schema); the constrained variants are skipped.")
    if request.json_schema is not None:
        if dialect == "llama.cpp":
            fields["json_schema"] = request.json_schema
        elif dialect == "structured_outputs":
            fields["structured_outputs"] = {"json": request.json_schema}
        elif dialect == "guided":
            fields["guided_json"] = request.json_schema
        else:  # sglang, response_format, and a server that said nothing: the OpenAI way
            fields["response_format"] = response_format(request.json_schema)
    if request.grammar is not None:
        fields["ebnf" if dialect == "sglang" else "grammar"] = request.grammar
    return fields, wrapped


def unwrap_choice(text: str) -> str:
    """The label inside an enum-wrapped answer; the text unchanged when it is not such a document (the scorer
    then sees what the server sent, and records a format failure)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return text
    value = doc.get(ANSWER_KEY) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else text
