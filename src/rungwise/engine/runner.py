"""The Runner: sends one variant's requests with bounded concurrency, reads and writes the response cache,
records the results as they arrive, and skips what an interrupted run already finished.

Model answers are committed as they arrive, with group commit: an answer is committed on the next turn of the
event loop, unless the last commit was less than GROUP_S ago; then it waits for the commit at GROUP_S, with the
answers that arrive meanwhile. A server slower than one answer per GROUP_S gets one commit per answer, at once; a
fast one does not pay one SQLite transaction per answer (a commit costs about as much as a fifth of a request to
an instant local server). Answers that cost no call (cache hits, references) are committed 256 at a time. An
exception or Ctrl-C commits what is pending before it propagates; a kill -9 loses at most the answers of the
last GROUP_S (and pending cache hits, which cost nothing to redo).

A server that keeps answering one request with something that is not a chat completion (MalformedResponse,
after the model's retries) fails that row only: it is recorded with score 0, failure "server" and a short
description as its output, and never cached, so a resumed run asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rungwise.cancel import CancelToken, run_interruptibly
from rungwise.errors import ContextTooLong, MalformedResponse, MetricError
from rungwise.metrics.scoring import Scorer
from rungwise.models.base import Completion, Model, Request
from rungwise.progress import ProgressSink, report
from rungwise.rungs.base import Variant
from rungwise.store import ResultRow, Store
from rungwise.task.data import Example

#: answers recorded without a model call (references, cache hits) are committed this many at a time
BATCH = 256

#: seconds: model answers arriving sooner than this after a commit wait for the next one, together
GROUP_S = 0.010

@dataclass
class RunStats:
    calls: int = 0
    cache_hits: int = 0
    resumed: int = 0
    #: constrained answers taken from the unconstrained twin's answer, which the constraint cannot change
    derived: int = 0
    server_failures: int = 0
    """rows recorded as failures of kind "server": the server's answer was malformed after every retry"""


class Runner:
    def __init__(self, store: Store, run_id: str, scorer: Scorer, *, concurrency: int | None = None,
                 progress: ProgressSink | None = None, cancel: CancelToken | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.scorer = scorer
        self.concurrency = concurrency
        self.progress = progress
        self.cancel = cancel or CancelToken()
        self.stats = RunStats()
        self._pending: list[tuple[ResultRow, tuple[str, Completion] | None]] = []
        self._flush_handle: asyncio.Handle | None = None  # the flush the event loop will run
        self._flush_error: BaseException | None = None
        self._last_flush = 0.0
        self._rows: dict[str, ResultRow] = {}  # this variant's rows recorded by this Runner, by example id

    async def run(self, variant: Variant, examples: Sequence[Example], model: Model,
                  twin_rows: Mapping[str, ResultRow] | None = None, *,
                  of: tuple[int, int] | None = None) -> list[ResultRow]:
        """Score `variant` on `examples`; returns the results in the order of `examples`.

        `of` (rows finished before these, rows in all) is for progress when a variant is scored in stages.

        For a constrained twin (`variant.fits`), `twin_rows` are the unconstrained variant's rows: where that
        answer already fits the constraint, greedy decoding under the constraint returns it unchanged, so the
        row is recorded from it (marked `derived`, never counted as a call)."""
        model = variant.model or model
        self._flush_error = None
        self._rows = {}
        done = self.store.done_examples(self.run_id, variant.name)
        self.stats.resumed += len(done & {ex.id for ex in examples})
        todo = [ex for ex in examples if ex.id not in done]
        total, finished = len(examples), len(examples) - len(todo)
        if of is not None:
            finished, total = finished + of[0], of[1]
        report(self.progress, "calls", variant.name, finished, total)
        self.cancel.raise_if_cancelled()

        if variant.answer is not None:  # a reference that needs no model
            answer = variant.answer
            self._record_without_calls(variant, ((ex, answer(ex), None, None) for ex in todo), finished, total,
                                       from_cache=False)
            return self._ordered(variant, examples)

        assert variant.build is not None
        requests = {ex.id: variant.build(ex) for ex in todo}
        keys = {ex_id: req.key() for ex_id, req in requests.items()}
        hits = self.store.cache_many(model.fingerprint, list(set(keys.values())))
        if any(c.served_model for c in hits.values()):  # an answer of a model the server no longer serves is stale
            served = await model.served_now()
            if served is not None:
                hits = {k: c for k, c in hits.items() if c.served_model in (None, served)}

        # cached answers first: recorded at once, no task and no call
        cached = [(ex, hits[keys[ex.id]].text, hits[keys[ex.id]], keys[ex.id]) for ex in todo if keys[ex.id] in hits]
        fresh = [ex for ex in todo if keys[ex.id] not in hits]
        self.stats.cache_hits += len(cached)
        finished = self._record_without_calls(variant, cached, finished, total, from_cache=True)
        if variant.fits is not None and twin_rows:
            fits = variant.fits
            derived = {ex.id for ex in fresh if ex.id in twin_rows and fits(twin_rows[ex.id].output)}
            self.stats.derived += len(derived)
            finished = self._record_without_calls(
                variant, ((ex, twin_rows[ex.id].output, _as_completion(twin_rows[ex.id]), None)
                          for ex in fresh if ex.id in derived),
                finished, total, from_cache=False, derived=True)
            fresh = [ex for ex in fresh if ex.id not in derived]

        # then the calls, in eval order: a fixed pool of workers pulling from one queue (one task per
        # request behind a semaphore costs the event loop more than the requests themselves on a fast server)
        queue = iter(fresh)
        loop = asyncio.get_running_loop()

        async def worker() -> None:
            nonlocal finished
            for ex in queue:
                self.cancel.raise_if_cancelled()
                try:
                    completion = await model.complete(requests[ex.id])
                except MalformedResponse as exc:
                    self.stats.calls += 1
                    self.stats.server_failures += 1
                    self._record_server_failure(variant, ex, str(exc), keys[ex.id])
                    completion = None
                except ContextTooLong as exc:
                    raise ContextTooLong(f"Variant {variant.name}, row {ex.id}: {exc}") from None
                if completion is not None:
                    self.stats.calls += 1
                    self._record(variant, ex, completion.text, completion, keys[ex.id], from_cache=False,
                                 cache_as=model.fingerprint)
                if self._flush_error is not None:  # the store failed on an earlier turn: stop here
                    raise self._flush_error
                if self._flush_handle is None:
                    wait = self._last_flush + GROUP_S - time.monotonic()
                    self._flush_handle = (loop.call_later(wait, self._flush_from_loop) if wait > 0
                                          else loop.call_soon(self._flush_from_loop))
                finished += 1
                report(self.progress, "calls", variant.name, finished, total)

        width = min(self.concurrency or model.concurrency_for([requests[ex.id] for ex in fresh]), len(fresh))
        workers = [asyncio.ensure_future(worker()) for _ in range(width)]
        try:
            await asyncio.gather(*workers)
        except BaseException as exc:
            for t in workers:
                t.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._flush_before_raising(exc)
            raise
        self._flush()  # raises if the store still fails; a passing failure is retried here and forgotten
        self._flush_error = None
        return self._ordered(variant, examples)

    def _record_without_calls(self, variant: Variant,
                              answers: Iterable[tuple[Example, str, Completion | None, str | None]],
                              finished: int, total: int, *, from_cache: bool, derived: bool = False) -> int:
        """Record answers that cost no call (cache hits, references), BATCH per commit; what was recorded is
        committed before an error propagates. Returns the new count of finished examples."""
        try:
            for ex, text, completion, key in answers:
                self._record(variant, ex, text, completion, key, from_cache=from_cache, derived=derived)
                finished += 1
                if len(self._pending) >= BATCH:
                    self._flush()
                report(self.progress, "calls", variant.name, finished, total)
        except BaseException as exc:
            self._flush_before_raising(exc)
            raise
        self._flush()
        return finished

    def _record(self, variant: Variant, ex: Example, text: str, completion: Completion | None, key: str | None,
                *, from_cache: bool, cache_as: str | None = None, derived: bool = False) -> None:
        """Score one answer and queue it for the store; a fresh model answer is cached under `cache_as` in the
        same commit."""
        try:
            scored = self.scorer.score(text, ex)
        except MetricError as exc:
            raise MetricError(f"{exc} (variant {variant.name})") from None
        extras = dict(scored.extras)
        if derived:
            extras["derived"] = 1.0
        if variant.annotate is not None:
            extras.update(variant.annotate(ex))
        row = ResultRow(
            variant=variant.name, example_id=ex.id, output=text, parsed=scored.parsed, score=scored.score,
            failure=scored.failure,
            prompt_tokens=completion.prompt_tokens if completion else 0,
            completion_tokens=completion.completion_tokens if completion else 0,
            cached_tokens=completion.cached_tokens if completion else 0,
            latency_s=completion.latency_s if completion else 0.0,
            from_cache=from_cache, extras=extras, request_key=key,
            served_model=completion.served_model if completion else None,
            system_fingerprint=completion.system_fingerprint if completion else None,
        )
        self._rows[ex.id] = row
        self._pending.append((row, (cache_as, completion) if cache_as is not None and completion is not None else None))

    def _record_server_failure(self, variant: Variant, ex: Example, problem: str, key: str) -> None:
        """Queue a row the server failed (a malformed answer): score 0, failure "server", not cached."""
        row = ResultRow(
            variant=variant.name, example_id=ex.id, output=f"[server failure] {problem}"[:500], parsed=None,
            score=0.0, failure="server", prompt_tokens=0, completion_tokens=0, cached_tokens=0, latency_s=0.0,
            from_cache=False, extras={}, request_key=key,
        )
        self._rows[ex.id] = row
        self._pending.append((row, None))

    def _flush(self) -> None:
        """Commit the answers recorded since the last flush, in one transaction (a scheduled flush is then
        cancelled: it has nothing left to do)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._last_flush = time.monotonic()
        if self._pending:
            self.store.add_results(self.run_id, self._pending)
            self._pending = []

    def _flush_from_loop(self) -> None:
        """The flush the event loop runs: an error is kept for the workers to raise (the loop would only log it).
        The rows stay pending, so the next flush retries them."""
        try:
            self._flush()
        except Exception as exc:  # noqa: BLE001 - kept and raised by the workers
            self._flush_error = exc

    def _flush_before_raising(self, exc: BaseException) -> None:
        """Keep what was answered before `exc`; a failing store must not hide `exc` itself."""
        try:
            self._flush()
        except Exception as err:  # noqa: BLE001 - attached to the exception being raised
            note = getattr(exc, "add_note", None)
            if note is not None:
                note(f"rungwise: {len(self._pending)} answers could not be saved either: {err}")

    def _ordered(self, variant: Variant, examples: Sequence[Example]) -> list[ResultRow]:
        """The rows recorded here (all committed by now), and those of an earlier, interrupted run from the store."""
        by_id = self._rows
        if any(ex.id not in by_id for ex in examples):
            by_id = {r.example_id: r for r in self.store.results(self.run_id, variant.name)} | by_id
        return [by_id[ex.id] for ex in examples]


def _as_completion(row: ResultRow) -> Completion:
    """What the unconstrained twin's call cost: a derived answer is priced as the call it stands for."""
    return Completion(text=row.output, prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
                      latency_s=row.latency_s, cached_tokens=row.cached_tokens, served_model=row.served_model,
                      system_fingerprint=row.system_fingerprint)


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

    return run_interruptibly(main())
