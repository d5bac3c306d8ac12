"""The Runner: sends one variant's requests with bounded concurrency, reads and writes the response cache,
records every result as it arrives, and skips what an interrupted run already finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rungwise.data import Example
from rungwise.models.base import Completion, Model, Request
from rungwise.rungs.base import Variant
from rungwise.scoring import Scorer
from rungwise.store import ResultRow, Store

#: progress(variant name, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class RunStats:
    calls: int = 0
    cache_hits: int = 0
    resumed: int = 0


class Runner:
    def __init__(self, store: Store, run_id: str, scorer: Scorer, *, concurrency: int | None = None,
                 progress: Progress | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.scorer = scorer
        self.concurrency = concurrency
        self.progress = progress
        self.stats = RunStats()

    async def run(self, variant: Variant, examples: Sequence[Example], model: Model) -> list[ResultRow]:
        """Score `variant` on `examples`; returns the results in the order of `examples`."""
        model = variant.model or model
        done = self.store.done_examples(self.run_id, variant.name)
        self.stats.resumed += len(done & {ex.id for ex in examples})
        todo = [ex for ex in examples if ex.id not in done]
        total, finished = len(examples), len(examples) - len(todo)
        if self.progress:
            self.progress(variant.name, finished, total)

        if variant.answer is not None:  # a reference that needs no model
            for ex in todo:
                self._record(variant, ex, variant.answer(ex), None, None, from_cache=False)
                finished += 1
                if self.progress:
                    self.progress(variant.name, finished, total)
            return self._ordered(variant, examples)

        assert variant.build is not None
        requests = {ex.id: variant.build(ex) for ex in todo}
        keys = {ex_id: req.key() for ex_id, req in requests.items()}
        hits = self.store.cache_many(model.fingerprint, list(set(keys.values())))
        limit = asyncio.Semaphore(self.concurrency or model.max_concurrency)

        async def one(ex: Example) -> None:
            nonlocal finished
            req, key = requests[ex.id], keys[ex.id]
            completion = hits.get(key)
            from_cache = completion is not None
            if completion is None:
                async with limit:
                    completion = await model.complete(req)
                self.stats.calls += 1
            else:
                self.stats.cache_hits += 1
            self._record(variant, ex, completion.text, completion, key, from_cache=from_cache,
                         cache_as=None if from_cache else model.fingerprint)
            finished += 1
            if self.progress:
                self.progress(variant.name, finished, total)

        # cached answers first (instant), then the calls in eval order
        order = sorted(todo, key=lambda ex: keys[ex.id] not in hits)
        tasks = [asyncio.ensure_future(one(ex)) for ex in order]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return self._ordered(variant, examples)

    def _record(self, variant: Variant, ex: Example, text: str, completion: Completion | None, key: str | None,
                *, from_cache: bool, cache_as: str | None = None) -> None:
        """Score and store one answer; a fresh model answer is cached under `cache_as` in the same commit."""
        scored = self.scorer.score(text, ex)
        extras = dict(scored.extras)
        if variant.annotate is not None:
            extras.update(variant.annotate(ex))
        self.store.add_result(
            self.run_id,
            ResultRow(
                variant=variant.name, example_id=ex.id, output=text, parsed=scored.parsed, score=scored.score,
                failure=scored.failure,
                prompt_tokens=completion.prompt_tokens if completion else 0,
                completion_tokens=completion.completion_tokens if completion else 0,
                cached_tokens=completion.cached_tokens if completion else 0,
                latency_s=completion.latency_s if completion else 0.0,
                from_cache=from_cache, extras=extras, request_key=key,
            ),
            cache=(cache_as, completion) if cache_as is not None and completion is not None else None,
        )

    def _ordered(self, variant: Variant, examples: Sequence[Example]) -> list[ResultRow]:
        by_id = {r.example_id: r for r in self.store.results(self.run_id, variant.name)}
        return [by_id[ex.id] for ex in examples]


def run_requests(model: Model, requests: Sequence[Request], concurrency: int) -> list[Completion]:
    """Send requests without the store (benchmarks, probes)."""

    async def main() -> list[Completion]:
        sem = asyncio.Semaphore(concurrency)

        async def one(r: Request) -> Completion:
            async with sem:
                return await model.complete(r)

        try:
            return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            await model.aclose()

    return asyncio.run(main())
