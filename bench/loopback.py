"""An instant OpenAI-compatible endpoint on loopback, for harness benchmarks.

It answers every POST .../chat/completions at once with a fixed label and fixed usage, and GET .../models with
one model, speaking just enough HTTP/1.1 (keep-alive, Content-Length bodies) on a raw asyncio Protocol so that
the server costs as little CPU as possible. Run it in its own process so it does not share the client's loop:

    python bench/loopback.py [--port 0] [--answer card_arrival]     # prints "PORT <n>" once it listens

or from Python: `with LoopbackServer() as url: ...` (url ends in /v1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Http(asyncio.Protocol):
    def __init__(self, chat: bytes, models: bytes, counter: list[int]) -> None:
        self.buf = b""
        self.chat = chat
        self.models = models
        self.counter = counter
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
                    break
            total = end + 4 + length
            if len(self.buf) < total:
                break
            request_line = head.split(b"\r\n", 1)[0]
            self.buf = self.buf[total:]
            if b"/chat/completions" in request_line:
                self.counter[0] += 1
                out.append(self.chat)
            elif b"/models" in request_line:
                out.append(self.models)
            else:
                out.append(_response("404 Not Found", b'{"error":"not found"}'))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(port: int, answer: str) -> None:
    chat_body = json.dumps({
        "id": "chatcmpl-loopback", "object": "chat.completion", "created": 0, "model": "loopback",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": 600, "completion_tokens": 4, "total_tokens": 604,
                  "prompt_tokens_details": {"cached_tokens": 580}},
    }).encode()
    models_body = json.dumps({"object": "list", "data": [{"id": "loopback", "object": "model", "owned_by": "bench"}]}).encode()
    chat, models = _response("200 OK", chat_body), _response("200 OK", models_body)
    counter = [0]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(chat, models, counter), "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


class LoopbackServer:
    """Starts `bench/loopback.py` in a child process; the context value is its base URL (…/v1)."""

    def __init__(self, answer: str = "card_arrival") -> None:
        self.answer = answer
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--answer", self.answer],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"loopback server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"
        time.sleep(0.05)
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--answer", default="card_arrival")
    args = ap.parse_args()
    try:
        asyncio.run(serve(args.port, args.answer))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
