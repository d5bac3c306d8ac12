"""Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, hosted APIs), over async httpx
(its connection-pool transport, see `rungwise.models.http`).

Retries with exponential backoff and jitter on 429, 5xx, timeouts, dropped connections and malformed
bodies, within the user's deadlines (`rungwise.models.deadlines`); a semaphore bounds the requests in flight.
Every answer is validated at the boundary (`rungwise.models.response`): one that is still malformed after the
retries raises MalformedResponse, which the Runner records as that row's failure. The API key is read from the
environment when the request is built and is never stored anywhere else; credentials in the URL are refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from rungwise.errors import MalformedResponse, MissingApiKey, ModelError, ModelUnavailable
from rungwise.models.base import Capabilities, Completion, Model, ModelInfo, Request
from rungwise.models.deadlines import MAX_BACKOFF_S, Deadlines
from rungwise.models.http import BodyTooLarge, HttpSender
from rungwise.models.response import parse_chat, parse_models
from rungwise.models.urls import redact_url, secret_in_url
from rungwise.textsafe import safe_text

T = TypeVar("T")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    """A failure worth another attempt; `kind` is overload (429/5xx), timeout, connection or malformed."""

    def __init__(self, message: str, kind: str = "overload") -> None:
        super().__init__(message)
        self.kind = kind


class OpenAIHttpModel(Model):
    """A chat model behind `base_url` (ending in /v1), called `model_name` there."""

    supports_json_schema = True

    def __init__(
        self,
        base_url: str,
        model_name: str,
        *,
        api_key_env: str | None = None,
        max_concurrency: int = 4,
        timeout_s: float | None = None,
        max_retries: int | None = None,
        backoff_s: float = 0.25,
        fingerprint: str | None = None,
        connect_timeout_s: float | None = None,
        total_timeout_s: float | None = None,
    ) -> None:
        self.base_url = base_url
        self.model_name = model_name
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.deadlines = Deadlines.resolve(timeout_s, max_retries, connect_timeout_s, total_timeout_s)
        self.timeout_s = self.deadlines.read_s
        self.max_retries = self.deadlines.retries
        self.backoff_s = backoff_s
        #: called with a one-line notice while a call waits for a retry (default: printed on stderr)
        self.notify: Callable[[str], None] | None = None
        self._noticed = (0, 0.0)
        self._fingerprint = fingerprint
        self._http: HttpSender | None = None
        self._semaphore: asyncio.Semaphore | None = None
        if api_key_env is not None:
            self._api_key()  # fail before any work when the key is missing

    def set_deadlines(self, timeout_s: float | None = None, retries: int | None = None) -> None:
        """Change the read timeout per attempt and the retries (None keeps the environment's or the default).
        Call it before the first request: the connections keep the timeouts they were opened with."""
        self.deadlines = Deadlines.resolve(timeout_s, retries)
        self.timeout_s = self.deadlines.read_s
        self.max_retries = self.deadlines.retries

    @property
    def base_url(self) -> str:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        refused = secret_in_url(value)  # before the URL is kept anywhere, or echoed
        if refused:
            raise ModelUnavailable(refused)
        self._base_url = value.rstrip("/")
        try:
            self._chat_url = httpx.URL(f"{self._base_url}/chat/completions")  # parsed once, not per request
            if (self._chat_url.port or 0) > 65535:
                raise httpx.InvalidURL(f"port {self._chat_url.port} is out of range")
        except httpx.InvalidURL as exc:
            raise ModelUnavailable(redact_url(f"{value!r} is not a valid URL ({exc}). Pass a base URL such as "
                                              "http://localhost:8000/v1.")) from None
        if self._chat_url.userinfo:  # it would end up in the model's fingerprint, in the store and the reports
            raise ModelUnavailable(
                "The endpoint URL holds credentials (user:password@). Remove them from the URL and pass the key "
                "through an environment variable instead: --api-key-env NAME."
            )

    # -- identity -------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        if self._info is not None:
            return self._info.fingerprint
        if self._fingerprint is None:
            return f"openai:{self.base_url}:{self.model_name}"
        return self._fingerprint

    @property
    def name(self) -> str:
        return self.model_name

    def _api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MissingApiKey(
                f"No API key found: the environment variable {self.api_key_env} is not set. "
                f"Set it (export {self.api_key_env}=...) or point --api-key-env at the variable that holds the key."
            )
        return key

    def _headers(self) -> dict[str, str]:
        key = self._api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _ensure_http(self) -> HttpSender:
        if self._http is None:
            self._http = HttpSender(timeout_s=self.timeout_s, max_connections=self.max_concurrency * 2,
                                    connect_s=self.deadlines.connect_s)
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._http

    async def open(self) -> ModelInfo:
        """Ask the server who it is, once: a llama.cpp server (grammars, /tokenize, prompt-cache reuse) is told
        apart from other OpenAI-compatible servers, and the fingerprint is pinned to its weights' metadata."""
        if self._info is not None:
            return self._info
        kind, fingerprint = "openai-compatible", self._fingerprint or f"openai:{self.base_url}:{self.model_name}"
        http = self._ensure_http()
        try:
            resp = await asyncio.wait_for(http.send("GET", httpx.URL(f"{self.base_url}/models"), headers=self._headers()),
                                          self.deadlines.attempt_s)
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout, asyncio.TimeoutError):
            raise ModelUnavailable(
                f"{self.base_url} accepted the connection but did not answer within {self.deadlines.read_s:g} s. "
                "Is the server stuck or still loading? Give it more time with --timeout SECONDS."
            ) from None
        except (httpx.HTTPError, BodyTooLarge) as exc:
            raise ModelUnavailable(
                f"Cannot reach {self.base_url} ({type(exc).__name__}). Is the server running? "
                "Check the URL (it should end in /v1) and that the server listens there."
            ) from None
        if resp.status_code in (401, 403):
            raise MissingApiKey(f"{self.base_url} refused the API key (HTTP {resp.status_code}). Check the key's value.")
        if resp.status_code >= 400:
            entries = []
        else:
            try:
                entries = parse_models(resp.json())
            except (ValueError, RecursionError):
                entries = []
        for entry in entries:
            if self.model_name in {entry.id, *entry.aliases} or len(entries) == 1:
                if entry.owned_by == "llamacpp":
                    kind = "llama.cpp"
                if entry.meta and self._fingerprint is None:
                    digest = hashlib.sha256(json.dumps(entry.meta, sort_keys=True, default=str).encode()).hexdigest()[:16]
                    fingerprint = f"openai:{self.model_name}:{digest}"
                break
        llama = kind == "llama.cpp"
        self._info = ModelInfo(
            fingerprint=fingerprint, served_model=self.model_name, server_kind=kind,
            capabilities=Capabilities(grammar=llama or self.supports_grammar, json_schema=self.supports_json_schema,
                                      tokenize=llama, max_concurrency=self.max_concurrency))
        return self._info

    @property
    def is_llama_cpp(self) -> bool:
        return self._info is not None and self._info.server_kind == "llama.cpp"

    # -- the call -------------------------------------------------------------------------------
    def _body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.stop:
            body["stop"] = list(request.stop)
        if request.json_schema is not None:
            if self.is_llama_cpp:
                body["json_schema"] = request.json_schema
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": request.json_schema, "strict": True},
                }
        if request.grammar is not None:
            body["grammar"] = request.grammar
        if self.is_llama_cpp:
            body["cache_prompt"] = True
        return body

    async def complete(self, request: Request) -> Completion:
        await self.open()
        body = self._body(request)
        return await self._with_retries(lambda http: self._once(http, body))

    async def _with_retries(self, call: Callable[[HttpSender], Awaitable[T]]) -> T:
        """Run `call` under the concurrency limit, retrying transient failures with backoff and jitter."""
        http = self._ensure_http()
        assert self._semaphore is not None
        last_problem, last_kind = "", "overload"
        deadlines = self.deadlines
        attempts = deadlines.attempts
        async with self._semaphore:
            start = time.monotonic()
            for attempt in range(attempts):
                if attempt:
                    delay = min(self.backoff_s * (2 ** (attempt - 1)), MAX_BACKOFF_S) * (0.5 + random.random())
                    left = deadlines.total(self.backoff_s) - (time.monotonic() - start)
                    if left <= delay:
                        break
                    self._notice(attempt + 1, attempts, last_problem)
                    await asyncio.sleep(delay)
                try:
                    return await asyncio.wait_for(call(http), deadlines.attempt_s)
                except asyncio.TimeoutError:
                    last_problem, last_kind = f"no complete answer within {deadlines.attempt_s:g} s", "timeout"
                except _Retryable as exc:
                    last_problem, last_kind = str(exc), exc.kind
        tries = f"{attempt + 1} time{'s' if attempt else ''}"
        if last_kind == "malformed":
            raise MalformedResponse(f"{last_problem} ({tries})")
        if last_kind == "connection":
            advice = "Is the server running and reachable? Check the URL and the server's log."
        else:
            advice = ("The server may be overloaded or down; try again, lower --concurrency, or give it more time "
                      "with --timeout SECONDS / --retries N.")
        raise ModelUnavailable(f"{self.base_url} failed {tries} in a row (last: {last_problem}). {advice}")

    def _notice(self, attempt: int, attempts: int, problem: str) -> None:
        """One line per retry round (not one per request in flight), so the user knows the climb is waiting."""
        last_attempt, last_time = self._noticed
        now = time.monotonic()
        if attempt <= last_attempt and now - last_time < 5.0:
            return
        self._noticed = (max(attempt, last_attempt), now)
        line = safe_text(f"{self.base_url}: {problem}; waiting for the server (attempt {attempt} of {attempts})")
        if self.notify is not None:
            self.notify(line)
        else:
            print(f"rungwise: {line}", file=sys.stderr, flush=True)

    async def _post(self, http: HttpSender, url: httpx.URL, body: dict[str, Any]) -> tuple[Any, float]:
        """POST once; transient failures (429, 5xx, timeouts, dropped connections, bad JSON) raise _Retryable."""
        start = time.perf_counter()
        try:
            resp = await http.send("POST", url, json=body, headers=self._headers())
        except httpx.TimeoutException:
            raise _Retryable("timeout", "timeout") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}", "connection") from None
        except BodyTooLarge as exc:
            raise _Retryable(str(exc), "malformed") from None
        latency = time.perf_counter() - start
        if resp.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {resp.status_code}")
        if 300 <= resp.status_code < 400:
            raise ModelError(redact_url(safe_text(
                f"{self.base_url} answered with a redirect (HTTP {resp.status_code} to "
                f"{resp.headers.get('location', '?')[:200]}). Point --model at the URL that answers.")))
        if resp.status_code in (401, 403):
            raise MissingApiKey(f"{self.base_url} refused the API key (HTTP {resp.status_code}). Check the key's value.")
        if resp.status_code >= 400:
            raise ModelError(redact_url(safe_text(
                f"{self.base_url} rejected the request (HTTP {resp.status_code}): {resp.text[:300]}")))
        try:
            return resp.json(), latency
        except (ValueError, RecursionError):
            kind = resp.headers.get("content-type", "no content type").split(";")[0][:60]
            raise _Retryable(safe_text(f"the response body is not JSON ({kind}, {len(resp.content)} bytes: "
                                       "malformed or truncated)"), "malformed") from None

    async def _once(self, http: HttpSender, body: dict[str, Any]) -> Completion:
        data, latency = await self._post(http, self._chat_url, body)
        try:
            answer = parse_chat(data)
        except MalformedResponse as exc:
            raise _Retryable(str(exc), "malformed") from None
        return Completion(
            text=answer.text,
            prompt_tokens=answer.prompt_tokens or 0,
            completion_tokens=answer.completion_tokens or 0,
            latency_s=latency,
            cached_tokens=answer.cached_tokens or 0,
            finish_reason=answer.finish_reason,
            extra={} if answer.usage_known else {"usage": "unknown"},
        )

    async def count_tokens(self, text: str) -> int | None:
        """llama.cpp servers tokenize at /tokenize (beside /v1); other servers cannot tell."""
        info = await self.open()
        if not info.capabilities.tokenize:
            return None
        url = httpx.URL(self.base_url.removesuffix("/v1") + "/tokenize")

        async def call(http: HttpSender) -> int:
            data, _ = await self._post(http, url, {"content": text, "add_special": False})
            tokens = data.get("tokens") if isinstance(data, dict) else None
            if not isinstance(tokens, list):
                raise _Retryable("malformed tokenize response", "malformed")
            return len(tokens)

        try:
            return await self._with_retries(call)
        except (ModelUnavailable, MissingApiKey):
            raise
        except ModelError:  # no /tokenize after all, or a malformed answer there: the server cannot tell
            return None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
