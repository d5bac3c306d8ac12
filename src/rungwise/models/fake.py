"""A fake model selectable by name (`fake`), for tests of pure logic. The end-to-end tests use real models.

It answers from a queue (`enqueue`), or from a function of the request, or echoes the last user message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from rungwise.models.base import Capabilities, Completion, Model, ModelInfo, Request


class FakeModel(Model):
    supports_grammar = True
    supports_json_schema = True
    max_concurrency = 8

    def __init__(self, respond: Callable[[Request], str] | None = None, *, name: str = "fake", delay_s: float = 0.0) -> None:
        self._respond = respond
        self._queue: deque[str] = deque()
        self._name = name
        self.delay_s = delay_s
        self.calls: list[Request] = []

    @property
    def fingerprint(self) -> str:
        return f"fake:{self._name}"

    async def open(self) -> ModelInfo:
        if self._info is None:
            self._info = ModelInfo(self.fingerprint, self._name, "fake", Capabilities(
                grammar=self.supports_grammar, json_schema=self.supports_json_schema, tokenize=True,
                max_concurrency=self.max_concurrency))
        return self._info

    def enqueue(self, texts: list[str]) -> None:
        self._queue.extend(texts)

    async def complete(self, request: Request) -> Completion:
        self.calls.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._queue:
            text = self._queue.popleft()
        elif self._respond is not None:
            text = self._respond(request)
        else:
            text = request.messages[-1].content
        prompt = sum(len(m.content.split()) for m in request.messages)
        return Completion(text=text, prompt_tokens=prompt, completion_tokens=len(text.split()), latency_s=self.delay_s)

    async def count_tokens(self, text: str) -> int | None:
        return len(text.split())
