"""Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, hosted APIs), over async httpx
(its connection-pool transport, see `rungwise.models.http`).

Retries with exponential backoff and jitter on 429, 5xx, timeouts, dropped connections and malformed
bodies, within the user's deadlines (`rungwise.models.deadlines`); a semaphore bounds the requests in flight.
Every answer is validated at the boundary (`rungwise.models.response`): one that is still malformed after the
retries raises MalformedResponse, which the Runner records as that row's failure. The API key is read from the
environment when the request is built and is never stored anywhere else; credentials in the URL are refused.

`open()` discovers, once, what the server is and can do (docs/endpoints.md): its kind from `/v1/models`
(llama.cpp, vLLM, SGLang, Ollama, or another OpenAI-compatible server), the context length, a tokenizer endpoint,
and how it takes a constraint on the output (`rungwise.models.constraints`). A profile can be forced instead
(`capabilities=`, `--capabilities`, RUNGWISE_CAPABILITIES). Each answer names the model that served it;
`served_now()` tells the Runner which model answers now (asking with one probe call of one token when no answer
has said yet), so cached answers of a replaced model are not served. Requests respect `--rpm`/`--tpm` and the
server's Retry-After (`rungwise.models.ratelimit`); a request the server refuses as too long for its context
raises ContextTooLong. Without a tokenizer endpoint, the reported usage calibrates the token estimate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from rungwise.errors import ContextTooLong, MalformedResponse, MissingApiKey, ModelError, ModelUnavailable
from rungwise.models.base import (
    Capabilities,
    Completion,
    Dialect,
    Message,
    Model,
    ModelInfo,
    Request,
    forced_capabilities,
)
from rungwise.models.calibration import PER_MESSAGE, TokenCalibration
from rungwise.models.constraints import WRAPPER_TOKENS, constraint_fields, unwrap_choice
from rungwise.models.deadlines import MAX_BACKOFF_S, Deadlines
from rungwise.models.http import BodyTooLarge, BodyUnreadable, HttpSender
from rungwise.models.ratelimit import RateLimiter, Slot
from rungwise.models.response import ModelEntry, parse_chat, parse_models
from rungwise.models.urls import redact_url, secret_in_url
from rungwise.redaction import remember_secret
from rungwise.textsafe import safe_text

T = TypeVar("T")
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
#: a 400 whose text says one of these is a request too long for the model's context
CONTEXT_TOO_LONG = re.compile(r"context.{0,20}(length|size|window)|maximum context|context_length_exceeded|"
                              r"too many (input |prompt )?tokens|prompt is too long|exceeds? the (available )?context",
                              re.IGNORECASE)
#: a Retry-After longer than this is not waited for: the call fails, saying so
MAX_RETRY_AFTER_S = 600.0
#: the probe call's one message: ordinary English, long enough to be a first point for the token calibration
PROBE_TEXT = ("Reply with one word. This short message only asks the server which model answers, and how many "
              "tokens a plain English sentence of about forty words takes, so that later estimates of prompt "
              "sizes can be scaled to this model's own tokenizer before any real request is sent.")
#: `owned_by` in /v1/models -> the server kind
OWNERS = {"llamacpp": "llama.cpp", "vllm": "vllm", "sglang": "sglang", "library": "ollama", "ollama": "ollama"}


#: the most characters one token spells in any tokenizer rungwise has met (runs of spaces or "=" run long)
MAX_CHARS_PER_TOKEN = 256


def answer_limit(max_tokens: Any) -> int | None:
    """The longest answer a request for `max_tokens` can get back honestly; None when it set no budget. An answer
    past it is malformed (the server ignored the budget) and is never stored or scored."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        return None
    return (max_tokens + 1) * MAX_CHARS_PER_TOKEN


class _Retryable(Exception):
    """A failure worth another attempt; `kind` is overload (429/5xx), timeout, connection or malformed."""

    def __init__(self, message: str, kind: str = "overload", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait: a number of seconds, or an HTTP date; None when absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError, OverflowError, OSError, AttributeError):
            return None  # not a date, or one no clock can hold (year 10**9, an offset of centuries)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _vllm_dialect(version: str | None) -> Dialect:
    """vLLM took `structured_outputs` in 0.11 and removed `guided_*` in 0.12; an unknown version is a new one."""
    if version:
        found = re.match(r"(\d+)\.(\d+)", version)
        if found and (int(found.group(1)), int(found.group(2))) < (0, 11):
            return "guided"
    return "structured_outputs"


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
        rpm: int | None = None,
        tpm: int | None = None,
        capabilities: str | None = None,
        probe: bool = True,
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
        self._opening: asyncio.Lock | None = None
        #: the capability profile: "auto" (discovered) or one forced (tests run every path against one server)
        self.profile = capabilities or os.environ.get("RUNGWISE_CAPABILITIES") or "auto"
        forced_capabilities(Capabilities(), self.profile)  # an unknown profile fails here, before any work
        self.limiter = RateLimiter(rpm, tpm)
        #: the token estimate learnt from the usage this model's server reports
        self.calibration = TokenCalibration()
        #: ask for one token at open() to learn which model really answers (servers without weights metadata)
        self.probe = probe
        #: the models the server said answered, in order of first sight
        self.served_seen: list[str] = []
        self._served_last: str | None = None
        self._probed = False
        #: fields every request carries besides the chat's own (llama.cpp's per-request `lora`)
        self.extra_body: dict[str, Any] = {}
        if api_key_env is not None:
            self._api_key()  # fail before any work when the key is missing

    def same_endpoint(self, served: str, fingerprint: str | None = None) -> OpenAIHttpModel:
        """This endpoint, key and limits, asking for the model `served` (a fine-tuned model, a loaded adapter)."""
        return OpenAIHttpModel(self.base_url, served, api_key_env=self.api_key_env,
                               max_concurrency=self.max_concurrency, timeout_s=self.deadlines.read_s,
                               max_retries=self.deadlines.retries, fingerprint=fingerprint)

    def set_deadlines(self, timeout_s: float | None = None, retries: int | None = None) -> None:
        """Change the read timeout per attempt and the retries (None keeps the environment's or the default).
        Call it before the first request: the connections keep the timeouts they were opened with."""
        self.deadlines = Deadlines.resolve(timeout_s, retries)
        self.timeout_s = self.deadlines.read_s
        self.max_retries = self.deadlines.retries

    def set_rate_limits(self, rpm: int | None = None, tpm: int | None = None) -> None:
        """Limit requests and tokens per minute; a limit already set (by the CLI) is kept."""
        self.limiter = RateLimiter(self.limiter.rpm or rpm, self.limiter.tpm or tpm)

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
        remember_secret(key)  # masked in every line rungwise prints or stores, whatever echoes it
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

    async def _get_json(self, url: str) -> Any:
        """GET a discovery endpoint once; None when it fails or is not JSON (discovery only refines defaults)."""
        try:
            resp = await asyncio.wait_for(self._ensure_http().send("GET", httpx.URL(url), headers=self._headers()),
                                          self.deadlines.attempt_s)
            return resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, BodyTooLarge, BodyUnreadable, asyncio.TimeoutError, ValueError, RecursionError):
            return None

    @property
    def _root(self) -> str:
        """The server's root (the base URL without /v1), where llama.cpp and vLLM keep /props, /tokenize, /version."""
        return self.base_url.removesuffix("/v1")

    async def open(self) -> ModelInfo:
        """Ask the server who it is and what it can do, once: the kind of server, the fingerprint (pinned to the
        weights' metadata on llama.cpp, to the model that answers the probe elsewhere), the constrained-output
        dialect, tokenizer access, context length and logprobs."""
        if self._info is not None:
            return self._info
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:  # concurrent first calls open once (one probe, not one per call)
            if self._info is None:
                self._info = await self._open()
        return self._info

    async def _open(self) -> ModelInfo:
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
        except (httpx.HTTPError, BodyTooLarge, BodyUnreadable) as exc:
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
        entry: ModelEntry | None = None
        for candidate in entries:
            if self.model_name in {candidate.id, *candidate.aliases} or len(entries) == 1:
                entry = candidate
                kind = OWNERS.get(candidate.owned_by or "", kind)
                if candidate.meta and self._fingerprint is None:
                    digest = hashlib.sha256(json.dumps(candidate.meta, sort_keys=True, default=str).encode()).hexdigest()[:16]
                    fingerprint = f"openai:{self.model_name}:{digest}"
                break
        capabilities = await self._discover(kind, entry)
        return ModelInfo(fingerprint=fingerprint, served_model=self.model_name, server_kind=kind,
                         capabilities=forced_capabilities(capabilities, self.profile))

    async def _discover(self, kind: str, entry: ModelEntry | None) -> Capabilities:
        """What a server of `kind` offers, refined by its own endpoints where it has them."""
        context = entry.context_length if entry is not None else None
        if kind == "llama.cpp":
            props = await self._get_json(f"{self._root}/props")
            settings = props.get("default_generation_settings") if isinstance(props, dict) else None
            n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
            if isinstance(n_ctx, int) and n_ctx > 0:
                context = n_ctx
            return Capabilities(grammar=True, json_schema=True, tokenize=True, max_concurrency=self.max_concurrency,
                                dialect="llama.cpp", context_length=context, logprobs=True)
        if kind == "vllm":
            version = await self._get_json(f"{self._root}/version")
            dialect = _vllm_dialect(version.get("version") if isinstance(version, dict) else None)
            return Capabilities(choice=True, json_schema=True, tokenize=True, max_concurrency=self.max_concurrency,
                                dialect=dialect, context_length=context, logprobs=True)
        if kind == "sglang":
            return Capabilities(grammar=True, json_schema=True, max_concurrency=self.max_concurrency,
                                dialect="sglang", context_length=context, logprobs=True)
        # Ollama (>= 0.5), OpenAI and most hosted APIs take a JSON schema in `response_format`
        return Capabilities(grammar=self.supports_grammar, json_schema=self.supports_json_schema,
                            max_concurrency=self.max_concurrency,
                            dialect="llama.cpp" if self.supports_grammar else "response_format",
                            context_length=context)

    async def served_now(self) -> str | None:
        """The model the server answers with now: the one its latest answer named, else asked once with a probe
        call of one token. None on llama.cpp (the fingerprint pins the weights) or when the server does not say.
        The Runner asks before it serves answers from the cache, so a replaced hosted model is asked afresh."""
        if self._served_last is not None:
            return self._served_last
        info = await self.open()
        if info.server_kind == "llama.cpp" or not self.probe:
            return None
        if not self._probed:
            self._probed = True
            self._served_last = await self._probe()
        return self._served_last

    async def _probe(self) -> str | None:
        """One call of one token: the model that really answers (the response's `model`), and a point for the
        token calibration. One attempt; whatever goes wrong, the climb carries on without it."""
        probe = Request((Message("user", PROBE_TEXT),), max_tokens=1)
        try:
            slot = await self.limiter.acquire(self._cost(probe))
            data, _ = await asyncio.wait_for(self._post(self._ensure_http(), self._chat_url, self._body(probe)),
                                             self.deadlines.attempt_s)
            answer = parse_chat(data)
        except _Retryable as exc:
            if exc.retry_after is not None and exc.retry_after <= MAX_RETRY_AFTER_S:
                self.limiter.pause(exc.retry_after)
            return None
        except (ModelError, asyncio.TimeoutError, httpx.HTTPError):
            return None
        slot.settle((answer.prompt_tokens or 0) + (answer.completion_tokens or 0))
        if answer.prompt_tokens:
            self.calibration.observe([Message("user", PROBE_TEXT)], answer.prompt_tokens)
        return answer.served_model

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
        fields, wrapped = constraint_fields(request, self.info.capabilities.dialect)
        body.update(fields)
        if wrapped:  # the JSON around the label is the backend's own: its tokens, and its newlines
            if request.max_tokens is not None:
                body["max_tokens"] = request.max_tokens + WRAPPER_TOKENS
            # a label's stop at a newline would cut the JSON short (and llama.cpp then drops the schema altogether)
            body.pop("stop", None)
        if self.is_llama_cpp:
            body["cache_prompt"] = True
        body.update(self.extra_body)
        return body

    def _cost(self, request: Request) -> int:
        """The most tokens a request may count against --tpm: its prompt counted generously, and its whole budget."""
        prompt = sum(math.ceil(len(m.content) / 2) + PER_MESSAGE for m in request.messages)
        return prompt + (request.max_tokens or 256)

    async def complete(self, request: Request) -> Completion:
        info = await self.open()
        body = self._body(request)
        wrapped = request.choice is not None and info.capabilities.dialect == "response_format"
        completion = await self._with_retries(lambda http: self._once(http, body), cost=self._cost(request))
        if wrapped:
            completion = dataclasses.replace(completion, text=unwrap_choice(completion.text),
                                             extra={**completion.extra, "raw": completion.text})
        if completion.extra.get("usage") != "unknown" and not info.capabilities.tokenize:
            self.calibration.observe(request.messages, completion.prompt_tokens)
        served = completion.served_model
        if served:
            self._served_last = served
        if served and served not in self.served_seen:
            self.served_seen.append(served)
            first = self.served_seen[0]
            if served != first:
                self._say(f"{self.base_url}: the server now answers with model {served!r} (the climb began with "
                          f"{first!r}); the result will say so")
        return completion

    async def _with_retries(self, call: Callable[[HttpSender], Awaitable[T]], cost: int = 0) -> T:
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
                slot = await self.limiter.acquire(cost)
                try:
                    result = await asyncio.wait_for(call(http), deadlines.attempt_s)
                except asyncio.TimeoutError:
                    last_problem, last_kind = f"no complete answer within {deadlines.attempt_s:g} s", "timeout"
                except _Retryable as exc:
                    last_problem, last_kind = str(exc), exc.kind
                    if exc.retry_after is not None:
                        self._honour_retry_after(exc.retry_after, slot)
                else:
                    if isinstance(result, Completion) and result.extra.get("usage") != "unknown":
                        slot.settle(result.prompt_tokens + result.completion_tokens)
                    return result
        tries = f"{attempt + 1} time{'s' if attempt else ''}"
        if last_kind == "malformed":
            raise MalformedResponse(f"{last_problem} ({tries})")
        if last_kind == "connection":
            advice = "Is the server running and reachable? Check the URL and the server's log."
        else:
            advice = ("The server may be overloaded or down; try again, lower --concurrency, or give it more time "
                      "with --timeout SECONDS / --retries N.")
        raise ModelUnavailable(f"{self.base_url} failed {tries} in a row (last: {last_problem}). {advice}")

    def _honour_retry_after(self, seconds: float, slot: Slot) -> None:
        """The server asked for no request for `seconds`: every request of this model waits that long."""
        slot.settle(0)  # a refused request used no tokens
        if seconds > MAX_RETRY_AFTER_S:
            raise ModelUnavailable(f"{self.base_url} asks rungwise to wait {seconds:.0f} s before the next request "
                                   "(Retry-After). Try again later, or lower --rpm/--tpm to stay under its limits.")
        self.limiter.pause(seconds)

    def _say(self, line: str) -> None:
        line = safe_text(line)
        if self.notify is not None:
            self.notify(line)
        else:
            print(f"rungwise: {line}", file=sys.stderr, flush=True)

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
        except (BodyTooLarge, BodyUnreadable) as exc:
            raise _Retryable(str(exc), "malformed") from None
        except httpx.DecodingError:
            raise _Retryable("the response body cannot be decoded", "malformed") from None
        latency = time.perf_counter() - start
        if resp.status_code in RETRY_STATUS:
            wait = retry_after_s(resp.headers.get("retry-after"))
            raise _Retryable(f"HTTP {resp.status_code}" + (f", Retry-After {wait:g} s" if wait is not None else ""),
                             retry_after=wait)
        if 300 <= resp.status_code < 400:
            raise ModelError(redact_url(safe_text(
                f"{self.base_url} answered with a redirect (HTTP {resp.status_code} to "
                f"{resp.headers.get('location', '?')[:200]}). Point --model at the URL that answers.")))
        if resp.status_code in (401, 403):
            raise MissingApiKey(f"{self.base_url} refused the API key (HTTP {resp.status_code}). Check the key's value.")
        if resp.status_code in (400, 413, 422) and CONTEXT_TOO_LONG.search(resp.text[:2000]):
            raise ContextTooLong(redact_url(safe_text(
                f"{self.base_url} refused a request as too long for the model's context (HTTP {resp.status_code}: "
                f"{resp.text[:200]}). Shorten the prompt (fewer few-shot examples, a smaller [rag] context_tokens) "
                "or use a model with a longer context.")))
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
        limit = answer_limit(body.get("max_tokens"))
        if limit is not None and len(answer.text) > limit:
            raise _Retryable(f"the answer is {len(answer.text):,} characters, more than {body['max_tokens']} tokens "
                             f"can spell (at most {limit:,}): the server ignored max_tokens", "malformed")
        return Completion(
            text=answer.text,
            prompt_tokens=answer.prompt_tokens or 0,
            completion_tokens=answer.completion_tokens or 0,
            latency_s=latency,
            cached_tokens=answer.cached_tokens or 0,
            finish_reason=answer.finish_reason,
            extra={} if answer.usage_known else {"usage": "unknown"},
            served_model=answer.served_model,
            system_fingerprint=answer.system_fingerprint,
        )

    async def count_tokens(self, text: str) -> int | None:
        """llama.cpp and vLLM servers tokenize at /tokenize (beside /v1); other servers cannot tell."""
        info = await self.open()
        if not info.capabilities.tokenize:
            return None
        url = httpx.URL(self._root + "/tokenize")
        vllm = info.server_kind == "vllm"
        body = ({"model": self.model_name, "prompt": text, "add_special_tokens": False} if vllm
                else {"content": text, "add_special": False})

        async def call(http: HttpSender) -> int:
            data, _ = await self._post(http, url, body)
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
        self._opening = None  # locks belong to the event loop that closes now
        self.limiter.new_loop()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
