"""The one contract every model backend implements.

    open()      -> ModelInfo   once, before any rung prepares: who the model is and what it can do (immutable)
    complete()  -> Completion  answer one request
    aclose()                   the one way to close: connections, and any server the model started itself
    tuner()     -> Tuner|None  fine-tuning is a capability the backend offers, not a check of its type

Capabilities are data in `ModelInfo`, discovered by `open()`; nothing about a model changes after it.
A backend declares what it supports by default with the `supports_*` class attributes; `open()` may find more
(a llama.cpp server behind a plain URL takes grammars).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rungwise.errors import ModelError

if TYPE_CHECKING:
    from rungwise.cancel import CancelToken
    from rungwise.progress import ProgressSink

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Request:
    """One call to a model: messages plus generation parameters.

    `json_schema`, `grammar` and `choice` constrain the output where the backend supports it: `choice` asks for
    exactly one of the strings, sent the way the server takes it (guided choice, a grammar, or a JSON-schema enum
    whose answer the backend unwraps).
    """

    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    grammar: str | None = None
    choice: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies, which made hashing a 77-label schema 5x slower
        return {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stop": list(self.stop),
            "json_schema": self.json_schema,
            "grammar": self.grammar,
            "choice": None if self.choice is None else list(self.choice),
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
    #: the model the server says answered (the response's `model`), where it says one
    served_model: str | None = None
    #: the server's `system_fingerprint` (its backend configuration), where it gives one
    system_fingerprint: str | None = None


#: how a server takes a constraint on the output (the request body each sends: docs/endpoints.md)
Dialect = Literal["llama.cpp", "structured_outputs", "guided", "sglang", "response_format", "none"]
#: a profile that can be forced (`--capabilities`, RUNGWISE_CAPABILITIES) instead of discovered, and the
#: constrained-output methods it stands for: (grammar, choice, json_schema, dialect)
_PROFILE_METHODS: dict[str, tuple[bool, bool, bool, Dialect]] = {
    "grammar": (True, False, True, "llama.cpp"),
    "choice": (False, True, True, "structured_outputs"),
    "guided": (False, True, True, "guided"),
    "sglang": (True, False, True, "sglang"),
    "json_schema": (False, False, True, "response_format"),
    "none": (False, False, False, "none"),
}
PROFILES = ("auto", *_PROFILE_METHODS)


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, as discovered when it was opened."""

    #: takes a GBNF grammar (llama.cpp's `grammar`, SGLang's `ebnf`)
    grammar: bool = False
    #: takes a JSON schema for the output (llama.cpp's `json_schema`, vLLM's structured outputs, `response_format`)
    json_schema: bool = False
    #: counts tokens with its own tokenizer (`count_tokens` answers); otherwise counts are estimates
    tokenize: bool = False
    #: how many requests the backend serves well at once
    max_concurrency: int = 4
    #: takes a closed set of strings (vLLM's guided choice); a label set then needs no grammar
    choice: bool = False
    #: the request fields a constraint travels in
    dialect: Dialect = "none"
    #: the context window in tokens, where the server tells it
    context_length: int | None = None
    #: answers with token log-probabilities when asked (None: unknown)
    logprobs: bool | None = None
    #: "discovered", or "forced: <profile>" when a profile was forced (`--capabilities`)
    source: str = "discovered"

    def methods(self) -> list[str]:
        """The constrained-output methods, in the words `rungwise models` prints."""
        return [name for name, on in (("grammar", self.grammar), ("choice", self.choice),
                                      ("json_schema", self.json_schema)) if on]

    def to_dict(self) -> dict[str, Any]:
        return {"grammar": self.grammar, "choice": self.choice, "json_schema": self.json_schema,
                "dialect": self.dialect, "tokenize": self.tokenize, "context_length": self.context_length,
                "logprobs": self.logprobs, "max_concurrency": self.max_concurrency, "source": self.source}


def forced_capabilities(found: Capabilities, profile: str) -> Capabilities:
    """`found` with its constrained-output methods replaced by a forced `profile` (tests run every path against
    one real server this way); tokenizer, context and concurrency stay what the server offers."""
    if profile not in PROFILES:
        raise ModelError(f"Unknown capability profile {profile!r}. Use one of: {', '.join(PROFILES)}.")
    if profile == "auto":
        return found
    grammar, choice, schema, dialect = _PROFILE_METHODS[profile]
    return dataclasses.replace(found, grammar=grammar, choice=choice, json_schema=schema, dialect=dialect,
                               source=f"forced: {profile}")



@dataclass(frozen=True)
class ModelInfo:
    """Who a model is, fixed when it is opened: the cache, the run and every rung use this one identity."""

    #: names the model and its weights: a cached answer is valid only for the same fingerprint
    fingerprint: str
    #: the model's name on its server (what answers are recorded as served by)
    served_model: str
    #: "llama.cpp", "openai-compatible" or "fake"
    server_kind: str
    capabilities: Capabilities = field(default_factory=Capabilities)


class Tuner(Protocol):
    """Fine-tuning offered by a backend: train an adapter on rows, then serve the base model with it."""

    #: the fingerprint of the base weights an adapter is trained on (an adapter of another base is stale)
    base_fingerprint: str

    def train(self, rows: list[tuple[tuple[Message, ...], str]], config: Any, folder: Path, *,
              progress: ProgressSink | None = None, cancel: CancelToken | None = None) -> tuple[Path, dict[str, Any]]:
        """Train (or reuse, or resume) an adapter in `folder`; returns its path and its metadata."""

    def serve(self, adapter: Path) -> Model:
        """The base model with `adapter` applied, as a Model the climb opens and closes."""


class Model(ABC):
    """A model that answers requests. Implement `open` and `complete`; declare defaults with `supports_*`."""

    supports_grammar: bool = False
    supports_json_schema: bool = False
    #: how many requests the backend serves well at once
    max_concurrency: int = 4

    _info: ModelInfo | None = None

    def concurrency_for(self, requests: Sequence[Request]) -> int:
        """How many of these requests (one variant's, in the order they will be sent) to keep in flight."""
        return self.max_concurrency

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """The model's identity: `info.fingerprint` once opened (which may be more precise than before)."""

    @property
    def name(self) -> str:
        return self.fingerprint

    @property
    def info(self) -> ModelInfo:
        """What `open()` found. Raises until the model is opened."""
        if self._info is None:
            raise ModelError(f"{self.name} has not been opened: call `await model.open()` first.")
        return self._info

    def declared_info(self) -> ModelInfo:
        """What the class declares, before anything is asked of the server."""
        return ModelInfo(
            fingerprint=self.fingerprint, served_model=self.name, server_kind="unknown",
            capabilities=Capabilities(grammar=self.supports_grammar, json_schema=self.supports_json_schema,
                                      max_concurrency=self.max_concurrency,
                                      dialect="llama.cpp" if self.supports_grammar else "none"))

    async def open(self) -> ModelInfo:
        """Start or reach the model and discover what it can do; idempotent. The default declares the class's
        capabilities; backends that can ask their server override it."""
        if self._info is None:
            self._info = self.declared_info()
        return self._info

    @abstractmethod
    async def complete(self, request: Request) -> Completion:
        """Answer one request."""

    async def count_tokens(self, text: str) -> int | None:
        """Tokens in `text` by the model's own tokenizer, or None when the backend cannot tell."""
        return None

    async def served_now(self) -> str | None:
        """The model the server says answers now, or None when it cannot tell (cached answers are then used
        whatever model they name). The Runner asks before it serves answers from the cache."""
        return None

    def tuner(self) -> Tuner | None:
        """The fine-tuning this backend offers, or None."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections, and stop any server the model started itself. The model may be opened again."""
