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


class BodyTooLarge(Exception):
    """The server sent more than MAX_BODY_BYTES; the rest is not read."""


async def _read_capped(response: httpx.Response, limit: int) -> None:
    """Read the body as `response.aread()` would, refusing one larger than `limit` bytes (decoded)."""
    size = int(response.headers.get("content-length") or 0) if response.headers.get("content-length", "").isdigit() else 0
    if size > limit:
        raise BodyTooLarge(f"the response body is {size:,} bytes, more than the {limit:,} rungwise reads")
    chunks, total = [], 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(f"the response body is larger than the {limit:,} bytes rungwise reads")
        chunks.append(chunk)
    response._content = b"".join(chunks)  # what aread() sets: .content, .text and .json() then work


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
