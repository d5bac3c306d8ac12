"""The OpenAI chat-completions response, validated at the boundary.

Servers differ where the protocol lets them, and the parser is tolerant there: `content` may be a string, null
(an empty answer) or a list of parts (`[{"type": "text", "text": ...}]`, joined); `usage` may be missing. What
cannot be a chat answer is refused with `MalformedResponse`: content that is a number or an object, no choices,
a body that is not a JSON object. A token count is believed only when it is a finite, non-negative integer below
2**31; anything else (a string, a list, -1e9, Infinity, NaN) makes that count *unknown*, never a number the costs
would use. `parse_models` reads a `/v1/models` body the same way and never raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from rungwise.errors import MalformedResponse
from rungwise.textsafe import storable

#: a token count at or above this is not believed
MAX_TOKENS = 2**31


def token_count(value: Any) -> int | None:
    """`value` as a token count, or None (unknown) when it is not a finite, non-negative integer below 2**31."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value < MAX_TOKENS:
        return value
    return None


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Usage(_Lenient):
    """Token counts; None where the server did not say, or said something that cannot be a count."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _counts(cls, value: Any) -> dict[str, int | None]:
        if not isinstance(value, dict):
            return {}
        details = value.get("prompt_tokens_details")
        return {
            "prompt_tokens": token_count(value.get("prompt_tokens")),
            "completion_tokens": token_count(value.get("completion_tokens")),
            "cached_tokens": token_count(details.get("cached_tokens")) if isinstance(details, dict) else None,
        }


class ChatMessage(_Lenient):
    content: str = ""

    @field_validator("content", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return storable(value)  # a lone surrogate or NUL ("\ud800", "\u0000" in the JSON) becomes U+FFFD
        if isinstance(value, list):  # content parts: the text ones, joined; other kinds (images, audio) skipped
            texts: list[str] = []
            for part in value:
                if isinstance(part, str):
                    texts.append(part)
                elif isinstance(part, dict) and part.get("type", "text") in ("text", "output_text"):
                    text = part.get("text")
                    if not isinstance(text, str):
                        raise ValueError("a text part of the content has no string 'text'")
                    texts.append(text)
                elif not isinstance(part, dict):
                    raise ValueError(f"a part of the content is a {_kind(part)}, not an object")
            return storable("".join(texts))
        raise ValueError(f"the message content is a {_kind(value)}, not a string")


class Choice(_Lenient):
    message: ChatMessage
    finish_reason: str = "stop"

    @field_validator("finish_reason", mode="before")
    @classmethod
    def _reason(cls, value: Any) -> str:
        return value if isinstance(value, str) and value else "stop"


def _short_text(value: Any) -> str | None:
    """A name the server gives (its model, its fingerprint): a string of at most 200 characters, else unknown."""
    return storable(value) if isinstance(value, str) and 0 < len(value) <= 200 else None


class ChatResponse(_Lenient):
    choices: list[Choice]
    usage: Usage = Usage()
    model: str | None = None
    system_fingerprint: str | None = None

    @field_validator("model", "system_fingerprint", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str | None:
        return _short_text(value)

    @field_validator("choices")
    @classmethod
    def _one(cls, value: list[Choice]) -> list[Choice]:
        if not value:
            raise ValueError("no choices")
        return value

    @field_validator("usage", mode="before")
    @classmethod
    def _usage(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class ChatAnswer:
    """What rungwise takes from a chat completion: the text, the finish reason and the counts it can believe."""

    text: str
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    #: the model the server says answered, and its system fingerprint (None where it says nothing usable)
    served_model: str | None = None
    system_fingerprint: str | None = None

    @property
    def usage_known(self) -> bool:
        return self.prompt_tokens is not None and self.completion_tokens is not None


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object",
            type(None): "null"}.get(type(value), type(value).__name__)


def parse_chat(data: Any) -> ChatAnswer:
    """The answer in a chat-completions body (already decoded from JSON); MalformedResponse when there is none."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"the response body is a JSON {_kind(data)}, not an object")
    try:
        resp = ChatResponse.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise MalformedResponse(f"the response is not a chat completion ({where}: {msg})") from None
    except (RecursionError, ValueError, TypeError) as exc:  # pathological nesting
        raise MalformedResponse(f"the response is not a chat completion ({type(exc).__name__})") from None
    choice = resp.choices[0]
    usage = resp.usage
    return ChatAnswer(text=choice.message.content, finish_reason=choice.finish_reason,
                      prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                      cached_tokens=usage.cached_tokens, served_model=resp.model,
                      system_fingerprint=resp.system_fingerprint)


@dataclass(frozen=True)
class ModelEntry:
    """One entry of a /v1/models list, with whatever of it could be read."""

    id: str | None
    aliases: tuple[str, ...] = ()
    owned_by: str | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)
    #: the context window it states (vLLM's and SGLang's `max_model_len`, llama.cpp's `n_ctx_train`, others')
    context_length: int | None = None


def parse_models(data: Any) -> list[ModelEntry]:
    """The entries of a /v1/models body; odd shapes (no list, entries that are not objects) give fewer entries,
    never an error: the list only refines what rungwise knows about the server."""
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        aliases = entry.get("aliases")
        if isinstance(aliases, str):
            aliases = [aliases]
        meta = entry.get("meta")
        context = next((token_count(v) for v in (entry.get("max_model_len"), entry.get("context_length"),
                                                  entry.get("context_window"),
                                                  meta.get("n_ctx_train") if isinstance(meta, dict) else None)
                        if token_count(v)), None)
        found.append(ModelEntry(
            id=entry["id"] if isinstance(entry.get("id"), str) else None,
            aliases=tuple(a for a in aliases if isinstance(a, str)) if isinstance(aliases, list) else (),
            owned_by=entry["owned_by"] if isinstance(entry.get("owned_by"), str) else None,
            meta=meta if isinstance(meta, dict) and meta else None,
            context_length=context,
        ))
    return found
