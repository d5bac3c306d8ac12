"""How rungwise sends HTTP requests: straight to httpx's connection-pool transports, several small ones.

httpx's client layer above the transport (URL merging, cookie jars, the auth and redirect flows, event hooks)
costs about a fifth of each request to a fast local server (measured against an instant loopback endpoint, see
bench/bench_harness.py), and rungwise needs none of it: it sends absolute URLs, sets its own headers and never
follows redirects. And httpcore's pool slows down with its size (its assignment of requests to connections is
quadratic, encode/httpcore#1035): one pool of 32 connections served 490 requests/s where four pools of 8 served
2,100. So the connections are split into pools of at most SHARD_CONNECTIONS, and each request goes to the pool
with the fewest requests in flight.

When a proxy is configured in the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, or the system's settings),
requests go through a full `httpx.AsyncClient` instead, which is what reads them.
"""

from __future__ import annotations

import ssl
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import suppress
from functools import cache
from typing import Any

import httpx

from rungwise._version import __version__

#: httpx decodes gzip and deflate itself (brotli would need another package)
_BASE_HEADERS = {"accept": "application/json", "accept-encoding": "gzip, deflate", "user-agent": f"rungwise/{__version__}"}

#: connections per httpcore pool
SHARD_CONNECTIONS = 8

#: a response body larger than this (after decompression) is refused: no chat answer is that long
MAX_BODY_BYTES = 16 * 1024 * 1024


#: at most this many content codings are undone (a body encoded three times over is not a chat answer)
MAX_CODINGS = 2
#: output of one inflate step, per layer: what a layer holds in memory at once
_STEP_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The server sent more than MAX_BODY_BYTES (decoded); the rest is not read."""


class BodyUnreadable(Exception):
    """The body cannot be decoded: a corrupt gzip or deflate stream, or a content coding rungwise did not ask for."""


class _Inflater:
    """One content coding undone step by step: no call returns more than _STEP_BYTES, whatever the input."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._raw_deflate = False
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._d.decompress(data, _STEP_BYTES)
            except zlib.error as exc:
                if self.coding == "deflate" and self._first and not self._raw_deflate:
                    # servers send raw deflate (no zlib header) as often as zlib-wrapped: httpx tries both too
                    self._raw_deflate = True
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise BodyUnreadable(f"the {self.coding} body is corrupt ({exc})") from None
            self._first = False
            data = self._d.unconsumed_tail
            if out:
                yield out
            elif self._d.eof:
                return  # trailing bytes after the end of the stream are ignored, as httpx does

    def flush(self) -> Iterator[bytes]:
        # `feed` consumed every byte it was given (its loop runs until no input is left), so only zlib's own
        # buffered output remains, taken in bounded steps
        while out := self._d.flush(_STEP_BYTES):
            yield out


def _codings(header: str) -> list[str]:
    """The content codings to undo, outermost first (the header lists them in the order they were applied)."""
    names = [c.strip().lower() for c in header.split(",") if c.strip()]
    names = [c for c in names if c != "identity"]
    for name in names:
        if name not in ("gzip", "x-gzip", "deflate"):
            raise BodyUnreadable(f"the body is sent with Content-Encoding {name[:40]!r}, which rungwise did not ask for")
    if len(names) > MAX_CODINGS:
        raise BodyUnreadable(f"the body is encoded {len(names)} times over (Content-Encoding: {header[:80]})")
    return ["gzip" if c == "x-gzip" else c for c in reversed(names)]


class _BoundedDecoder:
    """Undoes a body's content codings as its bytes arrive, one bounded step at a time through every layer, and
    stops the moment the decoded body passes `limit`: a small body that inflates to gigabytes (a "zip bomb",
    `gzip, gzip` nested) costs at most a few steps of memory, never the whole expansion of a chunk."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        self.layers = [_Inflater(c) for c in _codings(content_encoding)]
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def _take(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise BodyTooLarge(f"the response body is larger than the {self.limit:,} bytes rungwise reads")
        self.chunks.append(piece)

    def _through(self, pieces: Iterator[bytes], depth: int) -> None:
        if depth == len(self.layers):
            for piece in pieces:
                self._take(piece)
            return
        layer = self.layers[depth]
        for piece in pieces:
            self._through(layer.feed(piece), depth + 1)

    def feed(self, raw: bytes) -> None:
        self._through(iter((raw,)), 0)

    def finish(self) -> bytes:
        for depth, layer in enumerate(self.layers):
            self._through(layer.flush(), depth + 1)
        return b"".join(self.chunks)


async def _read_capped(response: httpx.Response, limit: int) -> None:
    """Read the body as `response.aread()` would, decoding its content codings with a bound on every layer, and
    refuse one larger than `limit` bytes (decoded) or one that cannot be decoded (BodyUnreadable)."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"the response body is {int(length):,} bytes, more than the {limit:,} rungwise reads")
    decoder = _BoundedDecoder(response.headers.get("content-encoding", ""), limit)
    raw_total = 0
    async for raw in response.aiter_raw():
        raw_total += len(raw)
        if raw_total > limit:
            raise BodyTooLarge(f"the response body is larger than the {limit:,} bytes rungwise reads")
        decoder.feed(raw)
    response._content = decoder.finish()  # what aread() sets: .content, .text and .json() then work


@cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every pool (each would otherwise load the CA bundle again: ~20 ms apiece)."""
    return httpx.create_ssl_context()


def proxies_configured() -> bool:
    """Whether the environment names an HTTP proxy (httpx's client would then route through it)."""
    found = urllib.request.getproxies()
    return any(found.get(scheme) for scheme in ("http", "https", "all"))


class HttpSender:
    """Sends requests and returns each response with its body read; raises httpx's exceptions
    (`httpx.TimeoutException`, `httpx.TransportError`) as the client would. Headers are given in lower case.
    Not followed: redirects (as httpx's default), cookies, credentials in the URL (OpenAIHttpModel refuses those)."""

    def __init__(self, *, timeout_s: float, max_connections: int, connect_s: float = 10.0,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        timeout = httpx.Timeout(timeout_s, connect=connect_s)
        self.max_body_bytes = max_body_bytes
        self._extensions = {"timeout": timeout.as_dict()}
        self._client: httpx.AsyncClient | None = None
        self._pools: list[httpx.AsyncHTTPTransport] = []
        self._in_flight: list[int] = []
        self._closed = False
        max_connections = max(1, max_connections)
        if proxies_configured():
            self._client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections))
            return
        n = -(-max_connections // SHARD_CONNECTIONS)
        for i in range(n):
            size = max_connections // n + (i < max_connections % n)
            self._pools.append(httpx.AsyncHTTPTransport(
                verify=_ssl_context(), limits=httpx.Limits(max_connections=size, max_keepalive_connections=size)))
        self._in_flight = [0] * n

    async def send(self, method: str, url: httpx.URL, *, json: Any = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        if self._closed:
            raise RuntimeError("Cannot send a request: this HttpSender has been closed.")
        request = httpx.Request(method, url, json=json, headers={**_BASE_HEADERS, **headers} if headers else _BASE_HEADERS,
                                extensions=self._extensions)
        if self._client is not None:
            streamed = await self._client.send(request, stream=True)
            try:
                await _read_capped(streamed, self.max_body_bytes)
            finally:
                await streamed.aclose()
            return streamed
        in_flight = self._in_flight
        i = in_flight.index(min(in_flight)) if len(in_flight) > 1 else 0
        in_flight[i] += 1
        try:
            response = await self._pools[i].handle_async_request(request)
            try:
                await _read_capped(response, self.max_body_bytes)
            finally:
                await response.aclose()
        finally:
            in_flight[i] -= 1
        return response

    async def aclose(self) -> None:
        self._closed = True
        try:
            if self._client is not None:
                await self._client.aclose()
        finally:
            for pool in self._pools:
                with suppress(Exception):  # closing the others matters more than this one's error
                    await pool.aclose()
