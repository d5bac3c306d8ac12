"""The HTTP layer under OpenAIHttpModel: small connection pools, the proxy fallback, headers, bad URLs."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from rungwise.errors import ModelUnavailable
from rungwise.models.base import Message, Request
from rungwise.models.http import SHARD_CONNECTIONS, HttpSender
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.models.registry import resolve_model

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


class _Recorder:
    """A tiny OpenAI-compatible server that records what it was sent (request line, headers, body)."""

    def __init__(self, answer: str = "billing") -> None:
        self.seen: list[tuple[str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                recorder.seen.append((self.requestline, dict(self.headers), b""))
                self._reply({"object": "list", "data": [{"id": "m", "object": "model"}]})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.seen.append((self.requestline, dict(self.headers), body))
                self._reply({"choices": [{"message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 7, "completion_tokens": 1}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    rec = _Recorder()
    yield rec
    rec.close()


def _ask(model: OpenAIHttpModel, n: int = 1) -> list[str]:
    async def go() -> list[str]:
        try:
            done = await asyncio.gather(*(model.complete(Request((Message("user", f"q{i}"),))) for i in range(n)))
            return [c.text for c in done]
        finally:
            await model.aclose()

    return asyncio.run(go())


def test_connections_are_split_into_pools_of_at_most_eight() -> None:
    sizes = {n: [p._pool._max_connections for p in HttpSender(timeout_s=5, max_connections=n)._pools]  # type: ignore[attr-defined]
             for n in (1, 8, 16, 20, 64)}
    assert sizes == {1: [1], 8: [8], 16: [8, 8], 20: [7, 7, 6], 64: [8] * 8}
    assert all(max(s) <= SHARD_CONNECTIONS and sum(s) == n for n, s in sizes.items())


def test_concurrent_requests_all_come_back_through_the_pools(recorder: _Recorder) -> None:
    model = OpenAIHttpModel(recorder.url + "/v1", "m", max_concurrency=12)  # 24 connections: three pools
    assert _ask(model, 40) == ["billing"] * 40
    posts = [line for line, _, _ in recorder.seen if line.startswith("POST")]
    assert len(posts) == 40 and all(line.split()[1] == "/v1/chat/completions" for line in posts)


def test_requests_carry_the_key_json_and_rungwise_headers(recorder: _Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RW_TEST_KEY", "sk-test-123")
    model = OpenAIHttpModel(recorder.url + "/v1", "m", api_key_env="RW_TEST_KEY")
    assert _ask(model) == ["billing"]
    _, headers, body = next(s for s in recorder.seen if s[0].startswith("POST"))
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["authorization"] == "Bearer sk-test-123"
    assert lower["content-type"] == "application/json" and lower["user-agent"].startswith("rungwise/")
    assert lower["accept-encoding"] == "gzip, deflate"  # what httpx decodes by itself
    assert json.loads(body)["messages"] == [{"role": "user", "content": "q0"}]


def test_a_proxy_in_the_environment_carries_the_requests(recorder: _Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY set, requests go to the proxy (here the recorder answers them itself), as httpx's client
    would send them; the upstream host does not even exist."""
    monkeypatch.setenv("HTTP_PROXY", recorder.url)
    model = OpenAIHttpModel("http://upstream.invalid:9/v1", "m")
    assert _ask(model) == ["billing"]
    lines = [line for line, _, _ in recorder.seen]
    assert "POST http://upstream.invalid:9/v1/chat/completions HTTP/1.1" in lines


@pytest.mark.parametrize("url", ["http://[::1/v1", "http://localhost:99999/v1"])
def test_a_malformed_base_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ModelUnavailable, match="is not a valid URL"):
        resolve_model(url, model_name="m")


def test_nothing_listening_is_a_clear_error() -> None:
    model = OpenAIHttpModel("http://127.0.0.1:1/v1", "m", max_retries=1, backoff_s=0.01)
    with pytest.raises(ModelUnavailable, match="Cannot reach"):
        _ask(model)


def test_credentials_in_the_url_are_refused() -> None:
    """They would be kept in the model's fingerprint, so in the store and the reports."""
    with pytest.raises(ModelUnavailable, match="--api-key-env"):
        resolve_model("http://user:secret@localhost:8000/v1", model_name="m")


def test_a_closed_sender_sends_nothing(recorder: _Recorder) -> None:
    async def go() -> None:
        sender = HttpSender(timeout_s=5, max_connections=2)
        assert (await sender.send("GET", httpx.URL(recorder.url + "/v1/models"))).status_code == 200
        await sender.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await sender.send("GET", httpx.URL(recorder.url + "/v1/models"))

    asyncio.run(go())
    assert len(recorder.seen) == 1
