"""The prompt search's loop against the reference implementation, `gepa` (its core, no extras), on the same task,
model, rows and budget (printed, not asserted).

Both search the task line of the clear prompt with the embedded model answering and proposing, on the rung's
own dev rows (`search_rows`: GEPA's valset) and feedback rows (GEPA's trainset), within the same budget of metric
calls. GEPA proposes with its own reflection prompt; rungwise's loop with its grounded and reflective prompts.
Each winner is then scored on the task's eval sample (never seen by either search) beside the clear prompt: eval
score with its Wilson interval and the exact McNemar test against the clear prompt, and the search's seconds,
metric calls and proposals.

    pip install gepa==0.1.4   # no required dependencies; not a rungwise dependency
    python bench/bench_prompt_search.py [--task examples/nemo_itn] [--budget 120] [--eval-rows 200]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rungwise.judge.stats import compare_rows, wilson_interval
from rungwise.metrics.scoring import Scorer
from rungwise.models.base import Message, Request
from rungwise.models.embedded import EmbeddedModel
from rungwise.models.tokens import TokenCounter
from rungwise.prompt_search.loop import search
from rungwise.prompt_search.reflection import Attempt, feedback_for, instruction_from
from rungwise.prompt_search.split import search_rows
from rungwise.rungs.prompt_search import PROPOSAL_TOKENS, searched_request
from rungwise.rungs.prompting import derive_budget, output_format_lines, task_line
from rungwise.task.data import Example
from rungwise.task.spec import Task

ROOT = Path(__file__).resolve().parents[1]


class Harness:
    """The task's model answering with an instruction, scored by the task's metric; the proposer; call counts."""

    def __init__(self, task: Task, model: EmbeddedModel, max_tokens: int, stop: tuple[str, ...]) -> None:
        self.task, self.model, self.max_tokens, self.stop = task, model, max_tokens, stop
        self.scorer = Scorer(task)
        self.metric_calls = self.proposals = 0
        self.gate = asyncio.Semaphore(model.max_concurrency)

    async def _one(self, instruction: str, ex: Example) -> Attempt:
        async with self.gate:
            c = await self.model.complete(searched_request(self.task, instruction, ex, self.max_tokens, self.stop))
        s = self.scorer.score(c.text, ex)
        return Attempt(ex, c.text, s.score, feedback_for(s.score, s.failure, self.scorer.binary))

    async def evaluate(self, instruction: str, rows: Sequence[Example]) -> list[Attempt]:
        self.metric_calls += len(rows)
        return list(await asyncio.gather(*[self._one(instruction, ex) for ex in rows]))

    async def propose(self, prompt: str) -> str:
        self.proposals += 1
        c = await self.model.complete(Request((Message("user", prompt),), max_tokens=PROPOSAL_TOKENS))
        return c.text

    async def on_eval(self, instruction: str, rows: Sequence[Example]) -> dict[str, float]:
        return {a.example.id: a.score for a in await asyncio.gather(*[self._one(instruction, ex) for ex in rows])}


def run_gepa(h: Harness, loop: asyncio.AbstractEventLoop, start: str, dev: list[Example], feedback: list[Example],
             budget: int, seed: int) -> tuple[str, float]:
    """GEPA's `optimize` on the same rows and budget, through an adapter that calls the same harness."""
    import gepa
    from gepa.core.adapter import EvaluationBatch

    class Adapter:
        propose_new_texts = None

        def evaluate(self, batch: list[Example], candidate: dict[str, str],
                     capture_traces: bool = False) -> EvaluationBatch[Any, Any]:
            attempts = loop.run_until_complete(h.evaluate(candidate["instruction"], batch))
            traces = [{"input": a.example.input, "output": a.output, "expected": a.example.target,
                       "feedback": a.feedback} for a in attempts]
            return EvaluationBatch(outputs=[a.output for a in attempts], scores=[a.score for a in attempts],
                                   trajectories=traces if capture_traces else None)

        def make_reflective_dataset(self, candidate: dict[str, str], eval_batch: EvaluationBatch[Any, Any],
                                    components_to_update: list[str]) -> dict[str, list[dict[str, Any]]]:
            rows = [{"Inputs": t["input"], "Generated Outputs": t["output"],
                     "Feedback": f"{t['feedback']}; expected output: {t['expected']}"}
                    for t in eval_batch.trajectories or []]
            return {name: rows for name in components_to_update}

    def reflect(prompt: str | list[dict[str, Any]]) -> str:
        text = prompt if isinstance(prompt, str) else "\n".join(str(m.get("content", "")) for m in prompt)
        return loop.run_until_complete(h.propose(text))

    class Quiet:  # GEPA logs each iteration and each proposal; the comparison prints its own lines
        def log(self, message: str) -> None:
            pass

    adapter: Any = Adapter()
    result: Any = gepa.optimize(seed_candidate={"instruction": start}, trainset=feedback, valset=dev, adapter=adapter,
                           reflection_lm=reflect, max_metric_calls=budget, reflection_minibatch_size=4, seed=seed,
                           display_progress_bar=False, raise_on_exception=False, logger=Quiet())
    best = result.best_candidate
    text = best["instruction"] if isinstance(best, dict) else str(best)
    return instruction_from(text) or start, float(result.val_aggregate_scores[result.best_idx])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default=str(ROOT / "examples" / "nemo_itn"))
    ap.add_argument("--budget", type=int, default=120)
    ap.add_argument("--eval-rows", type=int, default=200)
    args = ap.parse_args()
    task = Task.load(Path(args.task))
    seed = task.spec.eval.seed
    rows = search_rows(task, seed, min(task.spec.prompt.dev_rows, args.budget // 2))
    assert rows is not None, "too few train rows"
    eval_rows = task.eval_rows(sample=args.eval_rows, seed=seed)
    model = EmbeddedModel()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(model.open())

        gen = loop.run_until_complete(derive_budget(task, TokenCounter(model, conservative=True,
                                                                       calibrated=False).count))
        start = task_line(task)
        found: dict[str, tuple[str, float, float, int, int]] = {}
        h = Harness(task, model, gen.max_tokens, gen.stop)
        t0 = time.perf_counter()
        ours = loop.run_until_complete(search(start, rows, h.evaluate, h.propose, budget=args.budget, seed=seed,
                                              description=task.spec.description or start,
                                              output_format=output_format_lines(task)))
        found["rungwise loop"] = (ours.best.instruction, ours.best.score, time.perf_counter() - t0, h.metric_calls,
                                  h.proposals)
        clear_dev = ours.start.score
        try:
            g = Harness(task, model, gen.max_tokens, gen.stop)
            t0 = time.perf_counter()
            text, dev = run_gepa(g, loop, start, list(rows.dev), list(rows.feedback), args.budget, seed)
            found["gepa 0.1.4"] = (text, dev, time.perf_counter() - t0, g.metric_calls, g.proposals)
            g.scorer.close()
        except ImportError:
            print("gepa is not installed (pip install gepa==0.1.4): its row is left out")
        print(f"task {task.name}: budget {args.budget} metric calls, {len(rows.dev)} dev rows, "
              f"{len(rows.feedback)} feedback rows; eval {len(eval_rows)} rows; clear prompt dev {clear_dev:.1%}")
        clear = loop.run_until_complete(h.on_eval(start, eval_rows))
        binary = h.scorer.binary
        print(f"{'search':<14} {'dev':>6} {'seconds':>8} {'calls':>6} {'proposals':>9}   eval [95% CI]     vs clear prompt")
        ci = wilson_interval(sum(clear.values()), len(clear)) if binary else None
        print(f"{'clear prompt':<14} {clear_dev:>6.1%} {'-':>8} {'-':>6} {'-':>9}   "
              f"{sum(clear.values()) / len(clear):.1%}" + (f" [{ci.low:.1%}, {ci.high:.1%}]" if ci else ""))
        for name, (text, dev, seconds, calls, proposals) in found.items():
            scores = loop.run_until_complete(h.on_eval(text, eval_rows))
            mean = sum(scores.values()) / len(scores)
            ci = wilson_interval(sum(scores.values()), len(scores)) if binary else None
            test = compare_rows(clear, scores)
            versus = f"{test.difference * 100:+.1f} points, p={test.p_value:.3g}" if test else "-"
            print(f"{name:<14} {dev:>6.1%} {seconds:>8.0f} {calls:>6} {proposals:>9}   {mean:.1%}"
                  + (f" [{ci.low:.1%}, {ci.high:.1%}]" if ci else "") + f"   {versus}")
            print(f"    instruction: {' '.join(text.split())[:300]!r}")
        h.scorer.close()
    finally:
        loop.run_until_complete(model.aclose())
        loop.close()


if __name__ == "__main__":
    main()
