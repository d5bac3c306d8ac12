"""Embedded-model figures (printed, not asserted): SmolLM2-135M Q4_1 in the embedded llama.cpp server.

1. Harness cost on a real model: the banking77 prompt rung on --rows seeded eval rows, through rungwise
   (EmbeddedModel + Runner + store) and through the same kind of server driven directly with httpx (the same
   request bodies, one at a time, as the embedded model's single slot serves them). Prompt tokens evaluated per
   second (prompt minus cached) and generated tokens per second of wall time, plus the server's own rates
   from /metrics.
2. Shared-prefix ordering: the prompt rung (system prompt first, then the input) vs `PromptRung(prefix_first=
   False)` (input first), and the few-shot rung's fixed selection (the examples sit in the shared prefix):
   seconds per example and mean cached prompt tokens (Completion.cached_tokens).
3. The generation budget: the prompt rung with the budget derived from the output spec vs uncapped
   (max_tokens=64, no stop): score and seconds per example.

Every configuration gets a fresh server (llama.cpp keeps whole prompts in a RAM cache, so a second pass over
the same rows on one server would be answered from it) and one warm-up request on a row outside the measured
ones, so the shared prefix is in the KV cache for every configuration alike. Rows: a seeded random sample.

4. (--threads-compare 1,2) the prompt rung at several llama.cpp thread counts: on cores that other processes
   also use, llama.cpp's threads wait on each other and fewer threads can be much faster.

    python bench/bench_embedded.py [--rows 40] [--rows-input-first 20] [--rounds 2] [--threads N] [--threads-compare 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from rungwise.engine.runner import Runner
from rungwise.metrics.scoring import Scorer
from rungwise.models.base import Request
from rungwise.models.embedded import EmbeddedModel
from rungwise.rungs import RungContext, Variant
from rungwise.rungs.fewshot import FewShotRung
from rungwise.rungs.prompt import PromptRung
from rungwise.rungs.prompting import derive_budget
from rungwise.store import Store
from rungwise.task.data import Example
from rungwise.task.spec import Task

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Pass:
    name: str
    rows: int
    wall: float
    score: float
    prompt_tokens: float  # mean per row
    cached_tokens: float
    completion_tokens: float
    server: dict[str, float]

    @property
    def s_per_row(self) -> float:
        return self.wall / self.rows

    @property
    def prompt_tps(self) -> float:
        return (self.prompt_tokens - self.cached_tokens) * self.rows / self.wall

    @property
    def gen_tps(self) -> float:
        return self.completion_tokens * self.rows / self.wall


def metrics(base_url: str) -> dict[str, float]:
    text = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("llamacpp:"):
            name, _, value = line.partition(" ")
            out[name.removeprefix("llamacpp:")] = float(value)
    return out


def server_rates(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    return {
        "prompt_tps": d["prompt_tokens_total"] / d["prompt_seconds_total"] if d.get("prompt_seconds_total") else 0.0,
        "gen_tps": d["tokens_predicted_total"] / d["tokens_predicted_seconds_total"]
        if d.get("tokens_predicted_seconds_total") else 0.0,
        "busy_s": d.get("prompt_seconds_total", 0.0) + d.get("tokens_predicted_seconds_total", 0.0),
    }


async def _start(model: EmbeddedModel, warm: Request) -> str:
    await model.complete(warm)  # starts the server and puts the shared prefix in the KV cache
    await model.aclose()  # the timed pass runs on another event loop: a fresh client there
    assert model.server.base_url is not None
    return model.server.base_url


def via_rungwise(name: str, task: Task, variant: Variant, rows: list[Example], warm_row: Example, threads: int | None,
                 tmp: Path) -> Pass:
    model = EmbeddedModel()
    if threads:
        model.server.n_threads = threads
    assert variant.build is not None
    url = asyncio.run(_start(model, variant.build(warm_row)))
    store = Store(tmp / f"{name}-{time.monotonic_ns()}.db")
    run_id = store.create_run(task.name, str(task.folder), "bench", model.fingerprint, {"bench": name})
    runner = Runner(store, run_id, Scorer(task))
    before = metrics(url)

    async def go():  # type: ignore[no-untyped-def]
        try:
            return await runner.run(variant, rows, model)
        finally:
            await model.aclose()

    start = time.perf_counter()
    results = asyncio.run(go())
    wall = time.perf_counter() - start
    after = metrics(url)
    model.close()
    store.close()
    assert runner.stats.calls == len(rows), runner.stats
    return Pass(name, len(rows), wall, statistics.mean(r.score for r in results),
                statistics.mean(r.prompt_tokens for r in results), statistics.mean(r.cached_tokens for r in results),
                statistics.mean(r.completion_tokens for r in results), server_rates(before, after))


def direct(name: str, task: Task, variant: Variant, rows: list[Example], warm_row: Example, threads: int | None) -> Pass:
    """The same server and the same request bodies, sent one at a time by a bare httpx client."""
    model = EmbeddedModel()
    if threads:
        model.server.n_threads = threads
    assert variant.build is not None
    url = asyncio.run(_start(model, variant.build(warm_row)))
    bodies = [model._body(variant.build(ex)) for ex in rows]
    scorer = Scorer(task)
    before = metrics(url)

    async def go() -> list[dict]:
        async with httpx.AsyncClient(timeout=300) as client:
            out = []
            for body in bodies:
                resp = await client.post(f"{url}/chat/completions", json=body)
                out.append(resp.json())
            return out

    start = time.perf_counter()
    answers = asyncio.run(go())
    wall = time.perf_counter() - start
    after = metrics(url)
    model.close()
    usage = [a["usage"] for a in answers]
    scores = [scorer.score(a["choices"][0]["message"]["content"] or "", ex).score for a, ex in zip(answers, rows)]
    return Pass(name, len(rows), wall, statistics.mean(scores), statistics.mean(u["prompt_tokens"] for u in usage),
                statistics.mean((u.get("prompt_tokens_details") or {}).get("cached_tokens", 0) for u in usage),
                statistics.mean(u["completion_tokens"] for u in usage), server_rates(before, after))


def show(p: Pass) -> None:
    print(f"  {p.name:44s} {p.rows:3d} rows  {p.s_per_row:6.2f} s/row  score {p.score:5.1%}  prompt {p.prompt_tokens:5.0f} "
          f"(cached {p.cached_tokens:5.0f})  gen {p.completion_tokens:5.1f}  | wall: prompt {p.prompt_tps:6.1f} tok/s, "
          f"gen {p.gen_tps:5.1f} tok/s | server: prompt {p.server['prompt_tps']:6.1f}, gen {p.server['gen_tps']:5.1f} tok/s",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description="Embedded-model figures: harness cost, shared-prefix ordering, budget.")
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--rows-input-first", type=int, default=20,
                    help="rows for the input-first variant (it re-reads the whole prompt each call: slow)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of direct vs rungwise")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: rungwise's)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: harness,prefix,budget")
    ap.add_argument("--threads-compare", default="",
                    help="e.g. 1,2: also run the prompt rung through rungwise at each llama.cpp thread count")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    task = Task.load(REPO / "examples" / "banking77")
    sample = task.eval_sample()  # seeded random sample (task.toml [eval])
    rows, warm_row = sample[: args.rows], sample[args.rows]
    probe = EmbeddedModel()

    async def derive():  # type: ignore[no-untyped-def]
        try:
            return await derive_budget(task, probe.count_tokens)
        finally:
            await probe.aclose()

    budget = asyncio.run(derive())
    probe.close()
    context = RungContext(model=probe, budget=budget)
    prompt = PromptRung().prepare(task, context)[0]
    print(f"banking77, {args.rows} seeded eval rows; budget: max_tokens {budget.max_tokens}, stop {list(budget.stop)} "
          f"({budget.reason}); threads {args.threads or probe.server.n_threads}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if "harness" not in skip:
            print("\n1. prompt rung: direct httpx vs rungwise (fresh server each, alternating)")
            runs: dict[str, list[Pass]] = {"direct": [], "rungwise": []}
            for _ in range(args.rounds):
                for kind in ("direct", "rungwise"):
                    p = (direct("direct httpx", task, prompt, rows, warm_row, args.threads) if kind == "direct"
                         else via_rungwise("rungwise Runner", task, prompt, rows, warm_row, args.threads, tmp))
                    runs[kind].append(p)
                    show(p)
            med = {k: (statistics.median(p.wall for p in v), statistics.median(p.prompt_tps for p in v),
                       statistics.median(p.gen_tps for p in v)) for k, v in runs.items()}
            for k, (wall, ptps, gtps) in med.items():
                print(f"  median {k:9s} {wall / args.rows:6.2f} s/row   prompt {ptps:6.1f} tok/s   gen {gtps:5.1f} tok/s")
            print(f"  rungwise / direct throughput (median wall) {med['direct'][0] / med['rungwise'][0]:.3f}")

        if "prefix" not in skip:
            print("\n2. shared-prefix ordering")
            input_first = PromptRung(prefix_first=False).prepare(task, context)[0]
            task.spec.fewshot.selection = ["fixed"]  # the kNN selection needs MiniLM; only the fixed one shares a prefix
            fixed = next(v for v in FewShotRung().prepare(task, context) if v.name == "fewshot-fixed")
            n_if = min(args.rows_input_first, args.rows)
            for name, variant, n in (("prompt (prefix first)", prompt, args.rows),
                                     ("prompt (input first)", input_first, n_if),
                                     (f"fewshot fixed (k={task.spec.fewshot.k}, prefix)", fixed, args.rows)):
                show(via_rungwise(name, task, variant, rows[:n], warm_row, args.threads, tmp))

        if "budget" not in skip:
            print("\n3. generation budget")
            assert prompt.build is not None
            build = prompt.build
            uncapped = Variant("prompt-uncapped", "prompt",
                               lambda ex: dataclasses.replace(build(ex), max_tokens=64, stop=()))
            for name, variant in ((f"prompt, derived budget ({budget.max_tokens}, stop \\n)", prompt),
                                  ("prompt, uncapped (64, no stop)", uncapped)):
                show(via_rungwise(name, task, variant, rows, warm_row, args.threads, tmp))

        if args.threads_compare:
            print("\n4. llama.cpp threads (prompt rung through rungwise; load average "
                  f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})")
            for n in (int(x) for x in args.threads_compare.split(",")):
                show(via_rungwise(f"prompt, {n} thread{'s' if n > 1 else ''}", task, prompt, rows, warm_row, n, tmp))


if __name__ == "__main__":
    main()
