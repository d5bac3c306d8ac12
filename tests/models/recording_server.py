"""A recording OpenAI-compatible server for tests: on loopback only, it plays one kind of server (llama.cpp,
vLLM old or new, SGLang, Ollama, a hosted API) and records every request it gets (path, body, arrival time), so a
test can check the exact body each capability profile sends, and when requests came.

It answers a chat request with the first label, wrapped as `{"answer": ...}` when the request asked for a
JSON-schema enum; it can refuse the first requests with a 429 and a Retry-After, refuse every request as too long
for the context, and change the model it says answered after some requests. It stops by itself after
`lifetime_s` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: kind -> (owned_by in /v1/models, extra fields of the entry, GET endpoints beside /v1 -> body)
KINDS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "llama.cpp": ("llamacpp", {"meta": {"n_ctx_train": 8192, "n_params": 1}},
                  {"/props": {"default_generation_settings": {"n_ctx": 4096}}}),
    "vllm": ("vllm", {"max_model_len": 32768}, {"/version": {"version": "0.12.0"}}),
    "vllm-old": ("vllm", {"max_model_len": 16384}, {"/version": {"version": "0.8.5"}}),
    "sglang": ("sglang", {"max_model_len": 8192}, {}),
    "ollama": ("library", {}, {}),
    "hosted": ("system", {}, {}),
}


@dataclass
class Seen:
    method: str
    path: str
    body: dict[str, Any] | None
    at: float


@dataclass
class Behaviour:
    #: the answer's text (wrapped in {"answer": ...} when the request asked for a JSON-schema enum)
    answer: str = "billing"
    #: the `model` the answers name; after `switch_after` chat requests, `switch_to`
    served: str | None = "m-2026-01"
    switch_after: int | None = None
    switch_to: str = "m-2026-06"
    system_fingerprint: str | None = "fp_1"
    #: refuse this many first chat requests with a 429 and this Retry-After header value
    refuse: int = 0
    retry_after: str = "1"
    #: refuse every chat request as too long for the context
    too_long: bool = False
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 40, "completion_tokens": 1})


class RecordingServer:
    """`with RecordingServer("vllm") as server: ... server.base_url ... server.chat_bodies ...`"""

    def __init__(self, kind: str = "hosted", behaviour: Behaviour | None = None, *, lifetime_s: float = 60.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self.behaviour = behaviour or Behaviour()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                owned_by, entry, extra = KINDS[recorder.kind]
                with recorder.lock:
                    recorder.seen.append(Seen("GET", self.path, None, time.monotonic()))
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": owned_by,
                                                                 **entry}]})
                elif self.path in extra:
                    self._send(200, extra[self.path])
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw)
                b = recorder.behaviour
                with recorder.lock:
                    recorder.seen.append(Seen("POST", self.path, body, time.monotonic()))
                    n = sum(1 for s in recorder.seen if s.path == "/v1/chat/completions")
                if self.path == "/tokenize":
                    self._send(200, {"tokens": list(range(len(str(body).split())))})
                    return
                if n <= b.refuse:
                    self._send(429, {"error": "slow down"}, {"Retry-After": b.retry_after})
                    return
                if b.too_long:
                    self._send(400, {"error": {"message": "This model's maximum context length is 2048 tokens. "
                                                          "However, you requested 4000 tokens.",
                                               "code": "context_length_exceeded"}})
                    return
                text = b.answer
                schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
                if "answer" in schema.get("properties", {}):
                    text = json.dumps({"answer": b.answer})
                served = b.switch_to if b.switch_after is not None and n > b.switch_after else b.served
                answer: dict[str, Any] = {
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": b.usage,
                }
                if served is not None:
                    answer["model"] = served
                if b.system_fingerprint is not None:
                    answer["system_fingerprint"] = b.system_fingerprint
                self._send(200, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.timer = threading.Timer(lifetime_s, self.stop)
        self.timer.daemon = True
        self._stopped = False

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chats(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == "/v1/chat/completions"]

    def start(self) -> RecordingServer:
        self.thread.start()
        self.timer.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
