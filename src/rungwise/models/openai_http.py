"""Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, hosted APIs), over async httpx
(its connection-pool transport, see `rungwise.models.http`).

Retries with exponential backoff and jitter on 429, 5xx, timeouts, dropped connections and truncated
bodies; a semaphore bounds the requests in flight. The API key is read from the environment when the
request is built and is never stored anywhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from rungwise.errors import MissingApiKey, ModelError, ModelUnavailable
from rungwise.models.base import Capabilities, Completion, Model, ModelInfo, Request
from rungwise.models.http import HttpSender

T = TypeVar("T")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    pass


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
        timeout_s: float = 120.0,
        max_retries: int = 6,
        backoff_s: float = 0.25,
        fingerprint: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.model_name = model_name
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._fingerprint = fingerprint
        self._http: HttpSender | None = None
        self._semaphore: asyncio.Semaphore | None = None
        if api_key_env is not None:
            self._api_key()  # fail before any work when the key is missing

    @property
    def base_url(self) -> str:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value.rstrip("/")
        try:
            self._chat_url = httpx.URL(f"{self._base_url}/chat/completions")  # parsed once, not per request
            if (self._chat_url.port or 0) > 65535:
                raise httpx.InvalidURL(f"port {self._chat_url.port} is out of range")
        except httpx.InvalidURL as exc:
            raise ModelUnavailable(f"{value!r} is not a valid URL ({exc}). Pass a base URL such as "
                                   "http://localhost:8000/v1.") from None
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
            self._http = HttpSender(timeout_s=self.timeout_s, max_connections=self.max_concurrency * 2)
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
            resp = await http.send("GET", httpx.URL(f"{self.base_url}/models"), headers=self._headers())
        except httpx.HTTPError as exc:
            raise ModelUnavailable(
                f"Cannot reach {self.base_url} ({type(exc).__name__}). Is the server running? "
                "Check the URL (it should end in /v1) and that the server listens there."
            ) from None
        if resp.status_code in (401, 403):
            raise MissingApiKey(f"{self.base_url} refused the API key (HTTP {resp.status_code}). Check the key's value.")
        entry = _model_entry(resp, self.model_name) if resp.status_code < 400 else None
        if entry is not None:
            if entry.get("owned_by") == "llamacpp":
                kind = "llama.cpp"
            meta = entry.get("meta")
            if meta and self._fingerprint is None:
                digest = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()[:16]
                fingerprint = f"openai:{self.model_name}:{digest}"
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
        last_problem = ""
        async with self._semaphore:
            for attempt in range(self.max_retries + 1):
                if attempt:
                    delay = self.backoff_s * (2 ** (attempt - 1))
                    await asyncio.sleep(min(delay, 20.0) * (0.5 + random.random()))
                try:
                    return await call(http)
                except _Retryable as exc:
                    last_problem = str(exc)
        raise ModelUnavailable(
            f"{self.base_url} failed {self.max_retries + 1} times in a row (last: {last_problem}). "
            "The server may be overloaded or down; try again, or lower --concurrency."
        )

    async def _post(self, http: HttpSender, url: httpx.URL, body: dict[str, Any]) -> tuple[Any, float]:
        """POST once; transient failures (429, 5xx, timeouts, dropped connections, bad JSON) raise _Retryable."""
        start = time.perf_counter()
        try:
            resp = await http.send("POST", url, json=body, headers=self._headers())
        except httpx.TimeoutException:
            raise _Retryable("timeout") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}") from None
        latency = time.perf_counter() - start
        if resp.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {resp.status_code}")
        if resp.status_code in (401, 403):
            raise MissingApiKey(f"{self.base_url} refused the API key (HTTP {resp.status_code}). Check the key's value.")
        if resp.status_code >= 400:
            raise ModelError(f"{self.base_url} rejected the request (HTTP {resp.status_code}): {resp.text[:300]}")
        try:
            return resp.json(), latency
        except ValueError:
            raise _Retryable("malformed or truncated response body") from None

    async def _once(self, http: HttpSender, body: dict[str, Any]) -> Completion:
        data, latency = await self._post(http, self._chat_url, body)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError):
            raise _Retryable("malformed response body") from None
        details = usage.get("prompt_tokens_details") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency,
            cached_tokens=int(details.get("cached_tokens") or 0),
            finish_reason=str(choice.get("finish_reason") or "stop"),
        )

    async def count_tokens(self, text: str) -> int | None:
        """llama.cpp servers tokenize at /tokenize (beside /v1); other servers cannot tell."""
        info = await self.open()
        if not info.capabilities.tokenize:
            return None
        url = httpx.URL(self.base_url.removesuffix("/v1") + "/tokenize")

        async def call(http: HttpSender) -> int:
            data, _ = await self._post(http, url, {"content": text, "add_special": False})
            try:
                return len(data["tokens"])
            except (KeyError, TypeError):
                raise _Retryable("malformed tokenize response") from None

        return await self._with_retries(call)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _model_entry(resp: httpx.Response, model_name: str) -> dict[str, Any] | None:
    """The /v1/models entry of `model_name` (or the only entry); None when the body does not say."""
    try:
        entries = resp.json().get("data", [])
    except (ValueError, AttributeError):
        return None
    if not isinstance(entries, list):
        return None
    dicts = [e for e in entries if isinstance(e, dict)]
    for entry in dicts:
        aliases = entry.get("aliases")
        names = {entry.get("id"), *(aliases if isinstance(aliases, list) else [])}
        if model_name in names or len(dicts) == 1:
            return entry
    return None
