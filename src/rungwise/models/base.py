"""The one contract every model backend implements: `complete(request) -> Completion`.

Capabilities are class attributes, not branches on a backend's name.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Request:
    """One call to a model: messages plus generation parameters.

    `json_schema` and `grammar` constrain the output where the backend supports it.
    """

    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    grammar: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies, which made hashing a 77-label schema 5x slower
        return {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stop": list(self.stop),
            "json_schema": self.json_schema,
            "grammar": self.grammar,
        }

    def key(self) -> str:
        """A stable hash of the exact request (used with the model fingerprint as the cache key)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached_tokens: int = 0
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)


class Model(ABC):
    """A model that answers requests. Implement `complete`; set the capability attributes."""

    supports_grammar: bool = False
    supports_json_schema: bool = False
    #: how many requests the backend serves well at once
    max_concurrency: int = 4
    #: rungwise can train a LoRA for this model and serve it (the embedded model)
    fine_tunable: bool = False

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Names the model and its weights: a cache entry is valid only for the same fingerprint."""

    @property
    def name(self) -> str:
        return self.fingerprint

    @abstractmethod
    async def complete(self, request: Request) -> Completion:
        """Answer one request."""

    async def count_tokens(self, text: str) -> int | None:
        """Tokens in `text` by the model's own tokenizer, or None when the backend cannot tell."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections and servers."""
