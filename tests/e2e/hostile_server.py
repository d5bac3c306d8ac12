"""A hostile OpenAI-compatible server for tests: on loopback only, it answers every chat request with one odd,
broken or malicious shape (a "mode"), so that tests can prove rungwise neither crashes nor hangs on it.

It stops by itself: after `max_requests` requests (it then closes every connection) or `lifetime_s` seconds,
whichever comes first. A mode that never answers sleeps at most until then.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections import Counter
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ESCAPES = "\x1bc\x1b[2J\x1b]0;pwned\x07\x9b31m"


def _chat(content: Any = "billing", usage: Any = None, **choice: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"object": "chat.completion",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                         "finish_reason": "stop", **choice}]}
    if usage is not None:
        body["usage"] = usage
    return body


#: mode -> the chat-completions body (a JSON value, or raw bytes when JSON cannot say it)
CHAT_BODIES: dict[str, Any] = {
    "ok": _chat(usage={"prompt_tokens": 7, "completion_tokens": 1}),
    "content_parts": _chat([{"type": "text", "text": "bill"}, {"type": "text", "text": "ing"}]),
    "content_number": _chat(42),
    "content_null": _chat(None),
    "content_dict": _chat({"text": "billing"}),
    "content_escapes": _chat("billing" + ESCAPES),
    "usage_string": _chat(usage="lots"),
    "usage_list": _chat(usage=[1, 2]),
    "usage_infinity": b'{"choices": [{"message": {"role": "assistant", "content": "billing"}}], '
                      b'"usage": {"prompt_tokens": Infinity, "completion_tokens": NaN}}',
    "usage_negative": _chat(usage={"prompt_tokens": -1_000_000_000, "completion_tokens": -5}),
    "usage_huge": _chat(usage={"prompt_tokens": 10**40, "completion_tokens": 1.5}),
    "cached_string": _chat(usage={"prompt_tokens": 7, "completion_tokens": 1,
                                  "prompt_tokens_details": {"cached_tokens": "all"}}),
    "cached_list": _chat(usage={"prompt_tokens": 7, "completion_tokens": 1, "prompt_tokens_details": [3]}),
    "choices_empty": {"choices": []},
    "choices_string": {"choices": "billing"},
    "message_missing": {"choices": [{"finish_reason": "stop"}]},
    "body_list": [1, 2, 3],
    "body_string": "billing",
    "body_null": None,
    "finish_reason_number": _chat(finish_reason=7),
    "truncated": b'{"choices": [{"message": {"role": "assistant", "content": "bill',
    "html": b"<html><body><h1>It works!</h1></body></html>",
    "huge": _chat("x" * (20 * 1024 * 1024)),
    "wrong_content_type": _chat(usage={"prompt_tokens": 7, "completion_tokens": 1}),
    # text no store can hold: a lone surrogate, a NUL (json.dumps writes them as \ud800 and \u0000)
    "content_surrogate": _chat("billing\ud800"),
    "content_nul": _chat("billing\x00"),
    # a valid answer of 10 MiB to a request for a few tokens: the server ignored max_tokens
    "content_10mib": _chat("billing\n" + "y" * (10 * 1024 * 1024)),
}


@cache
def _gzip_bomb(decoded_mib: int) -> bytes:
    """A chat answer padded to `decoded_mib` MiB of spaces, gzipped twice: a few KB on the wire."""
    inner = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [inner.compress(b'{"choices": [{"message": {"role": "assistant", "content": "billing"}}]}')]
    block = b" " * (1 << 20)
    parts += [inner.compress(block) for _ in range(decoded_mib)]
    parts.append(inner.flush())
    return gzip.compress(b"".join(parts), 9)


#: mode -> (Content-Encoding, body): answers whose encoding is the attack
ENCODED_BODIES: dict[str, tuple[str, Any]] = {
    "gzip_bomb": ("gzip, gzip", lambda: _gzip_bomb(512)),  # 512 MiB decoded from a few KB
    "deflate_corrupt": ("deflate", lambda: b"\x78\x9c" + b"not a deflate stream at all" * 8),
    "encoding_unknown": ("br", lambda: b"\x0b\x02\x80billing\x03"),
}

#: mode -> the /v1/models body
MODELS_BODIES: dict[str, Any] = {
    "models_aliases_null": {"data": [{"id": "m", "aliases": None, "owned_by": "x"}]},
    "models_data_5": {"data": 5},
    "models_junk_entries": {"data": [5, "x", None, {"id": 7, "aliases": "m", "meta": "weights"}]},
    "models_list": [1, 2],
    "models_html": b"<html>models</html>",
    "models_meta_weird": {"data": [{"id": "m", "owned_by": "llamacpp", "meta": {"x": float("inf")}}]},
}

#: modes with their own behaviour (not a 200 with a body)
SPECIAL = ("never_answers", "never_answers_chat", "drip", "error_escape", "error_escape_500", "redirect", "close_at_once",
           "retry_after_huge_year", "retry_after_huge_offset", "echo_authorization")

MODES = (*CHAT_BODIES, *MODELS_BODIES, *ENCODED_BODIES, *SPECIAL)


class HostileServer:
    """`with HostileServer("content_number") as server: ... server.base_url ...`"""

    def __init__(self, mode: str, *, max_requests: int = 400, lifetime_s: float = 120.0, delay_s: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.encoded = ENCODED_BODIES[mode][1]() if mode in ENCODED_BODIES else b""  # made before any request
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self.delay_s = delay_s
        self.requests: Counter[str] = Counter()  # "GET /v1/models", "POST /v1/chat/completions"
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30  # a client that goes quiet does not hold a thread forever

            def log_message(self, *args: object) -> None:
                pass

            def _count(self) -> bool:
                with server.lock:
                    server.requests[f"{self.command} {self.path.split('?')[0]}"] += 1
                    over = sum(server.requests.values()) > server.max_requests
                if over:
                    self.close_connection = True
                    self.connection.shutdown(2)
                return not over

            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _json(self, value: Any, content_type: str = "application/json") -> None:
                body = value if isinstance(value, bytes) else json.dumps(value).encode()
                self._send(200, body, content_type)

            def do_GET(self) -> None:
                if not self._count():
                    return
                mode = server.mode
                if mode in MODELS_BODIES:
                    self._json(MODELS_BODIES[mode])
                elif mode == "never_answers":
                    server.stopping.wait(server.lifetime_s)
                    self.close_connection = True
                else:
                    self._json({"object": "list", "data": [{"id": "m", "object": "model"}]})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self._count():
                    return
                with server.lock:
                    server.bodies.append(body)
                if server.delay_s:
                    time.sleep(server.delay_s)
                mode = server.mode
                if mode in ("never_answers", "never_answers_chat"):
                    server.stopping.wait(server.lifetime_s)
                    self.close_connection = True
                elif mode == "drip":  # one byte a second: each read is quick, the whole answer never comes
                    payload = json.dumps(CHAT_BODIES["ok"]).encode()
                    try:
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.flush()
                        for byte in payload:
                            if server.stopping.wait(1.0):
                                break
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    self.close_connection = True
                elif mode == "error_escape":
                    self._send(400, f'{{"error": "bad request{ESCAPES}"}}'.encode())
                elif mode == "error_escape_500":
                    self._send(500, f"<h1>oops{ESCAPES}</h1>".encode(), "text/html")
                elif mode == "redirect":
                    self._send(302, b"", headers={"Location": "http://127.0.0.1:1/elsewhere"})
                elif mode in ENCODED_BODIES:
                    self._send(200, server.encoded, headers={"Content-Encoding": ENCODED_BODIES[mode][0]})
                elif mode == "retry_after_huge_year":
                    self._send(429, b'{"error": "slow down"}', headers={"Retry-After": "Fri, 31 Dec 99999 23:59:59 GMT"})
                elif mode == "retry_after_huge_offset":
                    self._send(503, b'{"error": "busy"}', headers={"Retry-After": "Fri, 31 Dec 2027 23:59:59 +99999999"})
                elif mode == "echo_authorization":  # an error body that quotes the request's headers
                    echoed = json.dumps({"error": "bad request", "headers": dict(self.headers)})
                    self._send(400, echoed.encode())
                elif mode == "close_at_once":
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif mode in CHAT_BODIES:
                    content_type = "text/plain" if mode == "wrong_content_type" else \
                        "text/html" if mode == "html" else "application/json"
                    self._json(CHAT_BODIES[mode], content_type)
                else:  # a /v1/models mode: chat answers normally
                    self._json(CHAT_BODIES["ok"])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.timer = threading.Timer(lifetime_s, self.stop)
        self.timer.daemon = True

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chat_requests(self) -> int:
        return self.requests["POST /v1/chat/completions"]

    def start(self) -> HostileServer:
        self.thread.start()
        self.timer.start()
        return self

    def stop(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:  # pragma: no cover - for trying a mode by hand: python hostile_server.py MODE
    import sys

    with HostileServer(sys.argv[1], lifetime_s=float(sys.argv[2]) if len(sys.argv) > 2 else 60.0) as server:
        print(server.base_url, flush=True)
        server.stopping.wait(server.lifetime_s)


if __name__ == "__main__":  # pragma: no cover
    main()
