"""A fault-injecting HTTP proxy for tests: it sits in front of a real OpenAI-compatible server on loopback and,
on a seeded share of chat-completion requests, answers 500 or 429, stalls past the client's timeout, drops the
connection, or truncates the JSON body. It can also demand an API key, to prove the client sends it."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

FAULTS = ("http500", "http429", "stall", "drop", "truncate")


class FaultyProxy:
    def __init__(self, upstream: str, *, rate: float = 0.2, seed: int = 0, stall_s: float = 3.0,
                 require_key: str | None = None) -> None:
        self.upstream = upstream.rstrip("/")  # the server root, without /v1
        self.rate = rate
        self.stall_s = stall_s
        self.require_key = require_key
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self.seen_headers: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self, method: str, body: bytes | None) -> httpx.Response:
                return httpx.request(method, proxy.upstream + self.path, content=body, timeout=120,
                                     headers={"Content-Type": "application/json"})

            def _reply(self, status: int, body: bytes, *, cut: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body[: len(body) // 2] if cut else body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up first
                    self.close_connection = True
                if cut:
                    self.close_connection = True

            def do_GET(self) -> None:
                resp = self._forward("GET", None)
                self._reply(resp.status_code, resp.content)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with proxy.lock:
                    proxy.seen_headers.append(dict(self.headers))
                    fault = proxy.rng.choice(FAULTS) if proxy.rng.random() < proxy.rate else None
                    if fault:
                        proxy.injected[fault] += 1
                if proxy.require_key and self.headers.get("Authorization") != f"Bearer {proxy.require_key}":
                    self._reply(401, b'{"error": "bad key"}')
                    return
                if fault == "http500":
                    self._reply(500, b'{"error": "injected"}')
                elif fault == "http429":
                    self._reply(429, b'{"error": "slow down"}')
                elif fault == "stall":
                    time.sleep(proxy.stall_s)
                    self.close_connection = True
                elif fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                else:
                    resp = self._forward("POST", body)
                    with proxy.lock:
                        proxy.forwarded += 1
                    self._reply(resp.status_code, resp.content, cut=fault == "truncate")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
