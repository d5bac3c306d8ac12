"""The prompt-search rung: the clear prompt's task line searched for on a dev split from train, before few-shot.

The search (`rungwise.prompt_search`) runs while the rung prepares: the task's model answers dev rows with each
candidate instruction, the task's metric scores them, and a proposer (the task's model, or `--proposer`)
writes new instructions from the failures. Every call goes through the climb's response cache
(`RungContext.call`), so a resumed climb replays the search from the store without a call. The winner becomes
the variant `prompt-search` (and its constrained twin), scored on the eval like every rung; what the search
spent is the rung's one-off cost (`config["search"]`), shown beside fine-tuning's training cost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from rungwise.errors import MalformedResponse
from rungwise.metrics.scoring import Scorer
from rungwise.models.base import Completion, Message, Model, Request
from rungwise.progress import ProgressEvent
from rungwise.prompt_search.budget import parse_search_budget
from rungwise.prompt_search.loop import SearchResult, search
from rungwise.prompt_search.reflection import Attempt, feedback_for
from rungwise.prompt_search.split import search_rows
from rungwise.rungs.base import Rung, RungContext, RungSkipped, Variant, register
from rungwise.rungs.constrained import with_constrained_twin
from rungwise.rungs.prompting import output_format_lines, structured_system_prompt, task_line
from rungwise.task.data import Example
from rungwise.task.spec import Task

#: what the proposer may write per proposal (tokens)
PROPOSAL_TOKENS = 320


class _Ledger:
    """Calls, cache hits and tokens of one model during the search."""

    def __init__(self) -> None:
        self.calls = self.cache_hits = self.prompt_tokens = self.completion_tokens = 0
        self.seconds = 0.0

    def add(self, prompt: int, completion: int, latency: float, cached: bool) -> None:
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        if cached:
            self.cache_hits += 1
        else:
            self.calls += 1
            self.seconds += latency

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "cache_hits": self.cache_hits, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "model_seconds": self.seconds}


def searched_request(task: Task, instruction: str, ex: Example, max_tokens: int, stop: tuple[str, ...]) -> Request:
    """The request of the prompt-search variant: the clear prompt with `instruction` as its task line."""
    return Request(messages=(Message("system", structured_system_prompt(task, instruction)),
                             Message("user", ex.input)), max_tokens=max_tokens, stop=stop)


@register
class PromptSearchRung(Rung):
    name = "prompt-search"
    order = 15
    kind = "prompt"
    summary = "the task instruction searched for on a dev split from train (reflective proposals, GEPA-style)"
    calls_while_preparing = True

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        raise RungSkipped("the prompt search calls the model while it prepares: it runs in a climb")

    async def aprepare(self, task: Task, context: RungContext) -> list[Variant]:
        spec = task.spec.prompt
        if not spec.search:
            raise RungSkipped("turned off in task.toml ([prompt] search = false)")
        if spec.template:
            raise RungSkipped("the task fixes its whole prompt ([prompt] template): there is no task line to search")
        seed = task.spec.eval.seed
        budget = parse_search_budget(spec.search_budget)
        # the clear prompt is scored on every dev row, and the grounded proposal too: at most half the budget each
        rows = search_rows(task, seed, min(spec.dev_rows, budget.metric_calls // 2))
        if rows is None:
            raise RungSkipped("train.jsonl holds too few rows (under 12 once eval inputs are left out) to carve a "
                              "dev split from")
        gen = context.budget
        plan = {"budget": budget.metric_calls, "preset": budget.name, "dev_rows": len(rows.dev),
                "feedback_rows": len(rows.feedback), "proposer": (context.proposer or context.model).name}
        if context.dry_run:  # the clear prompt stands in; the estimate adds the search's calls (engine.estimate)
            variant = self._variant(task, context, task_line(task), {**plan, "planned": True})
            return with_constrained_twin(variant, task, context.info, gen)
        result, search = await self._search(task, context, rows, budget.metric_calls, seed)
        if result.beats_start and spec.stack:  # the rungs above build on it, as a team that found it would
            context.resources.instruction = result.best.instruction
        search["stacked"] = bool(result.beats_start and spec.stack)
        search["system"] = structured_system_prompt(task, result.best.instruction)
        variant = self._variant(task, context, result.best.instruction, {**plan, **search, **result.to_dict()})
        return with_constrained_twin(variant, task, context.info, gen)

    def _variant(self, task: Task, context: RungContext, instruction: str, search: dict[str, Any]) -> Variant:
        gen = context.budget

        def build(ex: Example) -> Request:
            return searched_request(task, instruction, ex, gen.max_tokens, gen.stop)

        return Variant("prompt-search", self.name, build,
                       config={"system": structured_system_prompt(task, instruction), "instruction": instruction,
                               "search": search})

    async def _search(self, task: Task, context: RungContext, rows: Any, budget: int,
                      seed: int) -> tuple[SearchResult, dict[str, Any]]:
        model, proposer = context.model, context.proposer or context.model
        gen = context.budget
        scorer = Scorer(task)
        asked, proposed = _Ledger(), _Ledger()
        started = time.perf_counter()

        async def evaluate(instruction: str, batch: Sequence[Example]) -> list[Attempt]:
            context.cancel.raise_if_cancelled()
            answers = await asyncio.gather(*[
                _answer(context, model, searched_request(task, instruction, ex, gen.max_tokens, gen.stop))
                for ex in batch])
            out = []
            for ex, (completion, cached) in zip(batch, answers, strict=True):
                if completion is None:  # the server failed this row after every retry: a wrong answer here
                    out.append(Attempt(ex, "", 0.0, "the server returned no usable answer"))
                    continue
                asked.add(completion.prompt_tokens, completion.completion_tokens, completion.latency_s, cached)
                scored = scorer.score(completion.text, ex)
                out.append(Attempt(ex, completion.text, scored.score,
                                   feedback_for(scored.score, scored.failure, scorer.binary)))
            _report(context, asked.calls + asked.cache_hits, budget)
            return out

        async def propose(prompt: str) -> str:
            context.cancel.raise_if_cancelled()
            completion, cached = await _answer(context, proposer, Request(messages=(Message("user", prompt),),
                                                                          max_tokens=PROPOSAL_TOKENS))
            if completion is None:
                return ""
            proposed.add(completion.prompt_tokens, completion.completion_tokens, completion.latency_s, cached)
            return completion.text

        _report(context, 0, budget)  # the search starts from nothing (else its first look reads as a resume)
        try:
            result = await search(task_line(task), rows, evaluate, propose, budget=budget, seed=seed,
                                  description=task.spec.description or task_line(task),
                                  output_format=output_format_lines(task))
        finally:
            scorer.close()
        _report(context, result.metric_calls, result.metric_calls)
        costs = task.spec.costs
        spec = task.spec.prompt
        per_in = costs.input_price_per_million
        per_out = costs.output_price_per_million
        p_in = spec.proposer_input_price_per_million if spec.proposer_input_price_per_million is not None else per_in
        p_out = (spec.proposer_output_price_per_million if spec.proposer_output_price_per_million is not None
                 else per_out)
        # the one-off cost: every token the search needed, whether this climb paid for it or found it cached
        cost = ((asked.prompt_tokens * per_in + asked.completion_tokens * per_out)
                + (proposed.prompt_tokens * p_in + proposed.completion_tokens * p_out)) / 1e6
        return result, {"task_model": asked.to_dict(), "proposer_calls": proposed.to_dict(),
                        "seconds": time.perf_counter() - started, "cost": cost, "currency": costs.currency,
                        "proposer_model": _name(proposer)}


def _name(model: Model) -> str:
    return model.fingerprint


async def _answer(context: RungContext, model: Model, request: Request) -> tuple[Completion | None, bool]:
    """A completion (None when the server's answer stayed malformed after every retry) and whether it was cached."""
    try:
        return await context.call(model, request)
    except MalformedResponse:
        return None, False


def _report(context: RungContext, done: int, total: int) -> None:
    if context.progress is not None:
        context.progress(ProgressEvent("search", "prompt-search", min(done, total), total))
