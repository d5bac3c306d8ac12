"""Harness throughput (printed, not asserted) against the floors:

    rungwise Runner / raw httpx load generator   >= 0.95
    rungwise Runner                              >= 1,000 requests/s on 2 cores

An instant OpenAI-compatible endpoint (bench/loopback.py) runs in its own process. Against it:
  (a) raw: an async httpx client (`client.post(url, json=body)`), C workers, N chat-completion POSTs with the
      prompt rung's bodies prepared in advance;
  (b) rungwise: the Runner (real SQLite store on a temp file, a fresh run so nothing is cached, scoring the
      banking77 label task) sending the same N requests at the same concurrency through OpenAIHttpModel;
  (c) raw transport: the same POSTs sent the way rungwise sends them (httpx's connection-pool transport, below
      the client layer: see rungwise/models/http.py), with nothing else. (b)/(c) is what the Runner's own work
      (building and hashing requests, scoring, the store) costs; (b)/(a) is the floor's ratio.
Rounds alternate the three; the median and best of each are printed. `--breakdown` times the Runner's
per-result steps one by one (request build, hashing, scoring, the two SQLite writes); `--profile` runs one
Runner round under cProfile and prints the top functions; `--attribute` sends the same requests in several shapes
(OpenAIHttpModel alone in C workers; one task per request behind a semaphore, as the Runner once did; with the
garbage collector off) to show where the gap to raw comes from.

    python bench/bench_harness.py [--n 3000] [--concurrency 8,32] [--rounds 3] [--breakdown] [--attribute] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import importlib.util
import inspect
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import LoopbackServer  # noqa: E402

from rungwise.engine.runner import Runner  # noqa: E402
from rungwise.metrics.scoring import Scorer, label_lookup, parse_label  # noqa: E402
from rungwise.models.base import Completion, Request  # noqa: E402
from rungwise.models.http import HttpSender, proxies_configured  # noqa: E402
from rungwise.models.openai_http import OpenAIHttpModel  # noqa: E402
from rungwise.rungs import RungContext  # noqa: E402
from rungwise.rungs.prompt import PromptRung  # noqa: E402
from rungwise.rungs.prompting import derive_budget  # noqa: E402
from rungwise.store import ResultRow, Store  # noqa: E402
from rungwise.task.data import Example  # noqa: E402
from rungwise.task.spec import Task  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "loopback"


def examples_for(task: Task, n: int) -> list[Example]:
    """n distinct eval examples: banking77 eval rows, cycled, each made unique by a suffix."""
    rows = task.eval
    return [Example(f"b{i}", f"{rows[i % len(rows)].input} [{i}]", rows[i % len(rows)].target) for i in range(n)]


def prompt_variant(task: Task, model: OpenAIHttpModel):  # type: ignore[no-untyped-def]
    budget = asyncio.run(derive_budget(task, model.count_tokens))
    return PromptRung().prepare(task, RungContext(model=model, budget=budget))[0]


async def _drive(post: Callable[[dict], Awaitable[httpx.Response]], bodies: list[dict],
                 concurrency: int) -> tuple[float, int]:
    """POST every body through `post` from `concurrency` workers; (wall seconds, answers with content)."""
    ok = 0
    it = iter(bodies)

    async def worker() -> None:
        nonlocal ok
        for body in it:
            resp = await post(body)
            if resp.json()["choices"][0]["message"]["content"]:
                ok += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, ok


async def raw_round(url: str, bodies: list[dict], concurrency: int) -> tuple[float, int]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(120.0, connect=10.0)) as client:
        return await _drive(lambda body: client.post(f"{url}/chat/completions", json=body), bodies, concurrency)


async def raw_transport_round(url: str, bodies: list[dict], concurrency: int) -> tuple[float, int]:
    sender = HttpSender(timeout_s=120.0, max_connections=concurrency)
    chat = httpx.URL(f"{url}/chat/completions")
    try:
        return await _drive(lambda body: sender.send("POST", chat, json=body), bodies, concurrency)
    finally:
        await sender.aclose()


def rungwise_round(url: str, task: Task, examples: list[Example], concurrency: int, tmp: Path,
                   profile: cProfile.Profile | None = None) -> tuple[float, int, int]:
    store = Store(tmp / f"store-{time.monotonic_ns()}.db")
    run_id = store.create_run(task.name, str(task.folder), "bench", f"openai:{url}:{MODEL_NAME}", {"bench": True})
    model = OpenAIHttpModel(url, MODEL_NAME, max_concurrency=concurrency)
    variant = prompt_variant(task, model)
    model = OpenAIHttpModel(url, MODEL_NAME, max_concurrency=concurrency)  # fresh client for the timed loop
    runner = Runner(store, run_id, Scorer(task), concurrency=concurrency)

    async def go() -> list[ResultRow]:
        try:
            return await runner.run(variant, examples, model)
        finally:
            await model.aclose()

    if profile is not None:
        profile.enable()
    start = time.perf_counter()
    rows = asyncio.run(go())
    wall = time.perf_counter() - start
    if profile is not None:
        profile.disable()
    store.close()
    return wall, len(rows), runner.stats.calls


def attribute(url: str, task: Task, examples: list[Example], bodies: list[dict], concurrency: int, tmp: Path,
              rounds: int) -> None:
    """Where the gap between raw and the Runner comes from: the same requests sent in several shapes."""
    c = concurrency
    reqs = None

    async def model_workers() -> float:
        m = OpenAIHttpModel(url, MODEL_NAME, max_concurrency=c)
        it = iter(reqs)

        async def w() -> None:
            for r in it:
                await m.complete(r)

        t = time.perf_counter()
        await asyncio.gather(*(w() for _ in range(c)))
        wall = time.perf_counter() - t
        await m.aclose()
        return wall

    async def model_all_tasks() -> float:
        """The Runner's shape: one task per request up front, a semaphore letting c through."""
        m = OpenAIHttpModel(url, MODEL_NAME, max_concurrency=c)
        sem = asyncio.Semaphore(c)

        async def one(r: Request) -> None:
            async with sem:
                await m.complete(r)

        t = time.perf_counter()
        await asyncio.gather(*(asyncio.ensure_future(one(r)) for r in reqs))
        wall = time.perf_counter() - t
        await m.aclose()
        return wall

    probe = OpenAIHttpModel(url, MODEL_NAME)
    variant = prompt_variant(task, probe)
    reqs = [variant.build(ex) for ex in examples]
    n = len(reqs)
    shapes: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, fn in (
            ("raw httpx, c workers", lambda: asyncio.run(raw_round(url, bodies, c))[0]),
            ("raw transport (rungwise's HTTP layer), c workers", lambda: asyncio.run(raw_transport_round(url, bodies, c))[0]),
            ("OpenAIHttpModel.complete, c workers", lambda: asyncio.run(model_workers())),
            ("OpenAIHttpModel.complete, N tasks + semaphore", lambda: asyncio.run(model_all_tasks())),
            ("  same, garbage collector off", lambda: _gc_off(lambda: asyncio.run(model_all_tasks()))),
            ("Runner (store, scoring)", lambda: rungwise_round(url, task, examples, c, tmp)[0]),
            ("  same, gc disabled", lambda: _gc_off(lambda: rungwise_round(url, task, examples, c, tmp)[0])),
        ):
            shapes.setdefault(name, []).append(n / fn())
    print(f"\nAttribution at concurrency {c} ({n} requests, median of {rounds}):")
    for name, rates in shapes.items():
        print(f"  {name:52s} {statistics.median(rates):8,.0f} req/s")


def _gc_off(fn):  # type: ignore[no-untyped-def]
    gc.disable()
    try:
        return fn()
    finally:
        gc.enable()


def breakdown(task: Task, examples: list[Example], url: str, tmp: Path) -> None:
    """Per-result cost of each step the Runner takes besides the HTTP call, in microseconds."""
    model = OpenAIHttpModel(url, MODEL_NAME, max_concurrency=4)
    variant = prompt_variant(task, model)
    scorer = Scorer(task)
    store = Store(tmp / "breakdown.db")
    run_id = store.create_run(task.name, str(task.folder), "bench", "x", {})
    n = len(examples)
    completion = Completion("card_arrival", 600, 4, 0.001, 580)
    steps: dict[str, float] = {}

    t = time.perf_counter()
    reqs = [variant.build(ex) for ex in examples]
    steps["variant.build (Request)"] = time.perf_counter() - t
    t = time.perf_counter()
    keys = [r.key() for r in reqs]
    steps["Request.key() (json + sha256)"] = time.perf_counter() - t
    t = time.perf_counter()
    for r in reqs:
        model._body(r)
    steps["OpenAIHttpModel._body"] = time.perf_counter() - t
    t = time.perf_counter()
    store.cache_many("x", keys)
    steps["store.cache_many (all misses)"] = time.perf_counter() - t
    t = time.perf_counter()
    scored = [scorer.score("card_arrival", ex) for ex in examples]
    steps["scorer.score (label)"] = time.perf_counter() - t
    one_commit = "cache" in inspect.signature(store.add_result).parameters  # one commit per answer, as in older Runners
    t = time.perf_counter()
    for ex, k, s in zip(examples, keys, scored):
        row = ResultRow(variant.name, ex.id, "card_arrival", s.parsed, s.score, s.failure, 600, 4, 580, 0.001, False,
                        dict(s.extras), k)
        if one_commit:
            store.add_result(run_id, row, cache=("x", completion))  # type: ignore[call-arg]
        else:
            store.put_cache("x", k, completion)
            store.add_result(run_id, row)
    steps["store: cache + result (" + ("1 commit" if one_commit else "2 commits") + " each)"] = time.perf_counter() - t
    t = time.perf_counter()
    store.results(run_id, variant.name)
    steps["store.results (read back, once)"] = time.perf_counter() - t
    total = sum(steps.values())
    print(f"\nPer-result cost of the Runner's own steps ({n} results, no HTTP):")
    for name, s in steps.items():
        print(f"  {name:38s} {s / n * 1e6:8.1f} us/result  {s / total:6.1%}")
    print(f"  {'total':38s} {total / n * 1e6:8.1f} us/result  -> ceiling {n / total:,.0f} results/s from these alone")

    # What the same steps cost written another way (bench-local re-implementations, same outputs).
    alt: dict[str, float] = {}
    labels = task.labels or []
    lookup = label_lookup(labels)
    t = time.perf_counter()
    for ex in examples:
        parse_label("card_arrival", lookup)
    alt["score, label lookup built once"] = time.perf_counter() - t
    assert parse_label("card_arrival", lookup) == parse_label("card_arrival", labels)

    def fast_key(r: Request) -> str:
        d = {"messages": [{"role": m.role, "content": m.content} for m in r.messages], "max_tokens": r.max_tokens,
             "temperature": r.temperature, "stop": list(r.stop), "json_schema": r.json_schema, "grammar": r.grammar}
        blob = json.dumps(d, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    assert fast_key(reqs[0]) == keys[0]
    t = time.perf_counter()
    for r in reqs:
        fast_key(r)
    alt["Request.key() without dataclasses.asdict"] = time.perf_counter() - t

    conn = store._conn
    rows = [(run_id + "b", variant.name, ex.id, k, "card_arrival", s.parsed, s.score, s.failure, 600, 4, 580, 0.001, 0,
             "{}", time.time()) for ex, k, s in zip(examples, keys, scored)]
    blob = json.dumps(asdict(completion))
    t = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?)", ("y", row[3], blob, time.time()))
        conn.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
        conn.execute("COMMIT")
    alt["cache + result in one commit"] = time.perf_counter() - t
    rows = [(run_id + "c", *row[1:]) for row in rows]
    t = time.perf_counter()
    for i in range(0, len(rows), 64):
        chunk = rows[i : i + 64]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?, ?)",
                         [("z", row[3], blob, time.time()) for row in chunk])
        conn.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", chunk)
        conn.execute("COMMIT")
    alt["cache + result, 64 per commit"] = time.perf_counter() - t
    store.close()
    print("\nThe same steps written another way (same outputs):")
    for name, s in alt.items():
        print(f"  {name:38s} {s / n * 1e6:8.1f} us/result")


def main() -> None:
    ap = argparse.ArgumentParser(description="Harness throughput: raw httpx vs rungwise's Runner on an instant endpoint.")
    ap.add_argument("--n", type=int, default=3000, help="requests per round")
    ap.add_argument("--concurrency", default="8,32", help="comma-separated: each is measured")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--breakdown", action="store_true", help="time the Runner's per-result steps one by one")
    ap.add_argument("--profile", action="store_true", help="one extra Runner round under cProfile")
    ap.add_argument("--attribute", action="store_true",
                    help="send the requests in several shapes (model alone, the Runner's task shape, gc off)")
    args = ap.parse_args()

    task = Task.load(REPO / "examples" / "banking77")
    examples = examples_for(task, args.n)
    with LoopbackServer() as url, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        probe_model = OpenAIHttpModel(url, MODEL_NAME)
        variant = prompt_variant(task, probe_model)
        bodies = [probe_model._body(variant.build(ex)) for ex in examples]
        levels = [int(c) for c in str(args.concurrency).split(",")]
        sniffio = importlib.util.find_spec("sniffio") is not None
        print(f"httpx {httpx.__version__}; sniffio importable: {'yes' if sniffio else 'NO'}"
              + ("" if sniffio else " (httpcore then retries `import sniffio` on every lock operation: "
                 "a failed import scans sys.path each time, 4 to 8 times per request)"))
        print(f"endpoint {url} (own process); {args.n} requests per round; request body ~{len(str(bodies[0]))} chars; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
        asyncio.run(raw_round(url, bodies[: min(300, len(bodies))], levels[0]))  # warm up
        if proxies_configured():
            print("a proxy is set in the environment: rungwise sends through httpx's full client, as raw does")
        for c in levels:
            rates: dict[str, list[float]] = {"raw httpx": [], "rungwise": [], "raw transport": []}
            print(f"\nconcurrency {c}")
            for r in range(args.rounds):
                wall, ok = asyncio.run(raw_round(url, bodies, c))
                rates["raw httpx"].append(args.n / wall)
                wall2, n_rows, calls = rungwise_round(url, task, examples, c, tmp)
                rates["rungwise"].append(args.n / wall2)
                wall3, ok3 = asyncio.run(raw_transport_round(url, bodies, c))
                rates["raw transport"].append(args.n / wall3)
                print(f"  round {r + 1}: raw {args.n / wall:8,.0f} req/s ({ok} ok)   "
                      f"rungwise {args.n / wall2:8,.0f} req/s ({n_rows} results, {calls} calls)   "
                      f"raw transport {args.n / wall3:8,.0f} req/s ({ok3} ok)")
            med = {name: statistics.median(v) for name, v in rates.items()}
            for name, v in rates.items():
                print(f"  {name:14s} median {med[name]:8,.0f} req/s   best {max(v):8,.0f}")
            print(f"  ratio rungwise/raw httpx (medians) {med['rungwise'] / med['raw httpx']:.3f}   "
                  "(floors: ratio 0.95, 1,000 req/s)")
            print(f"  ratio rungwise/raw transport (medians) {med['rungwise'] / med['raw transport']:.3f}   "
                  "(the Runner's own work: requests, hashing, scoring, the store)")

        if args.attribute:
            attribute(url, task, examples, bodies, levels[0], tmp, args.rounds)
        if args.breakdown:
            breakdown(task, examples, url, tmp)
        if args.profile:
            prof = cProfile.Profile()
            wall, _, _ = rungwise_round(url, task, examples, levels[0], tmp, profile=prof)
            print(f"\ncProfile of one Runner round ({args.n / wall:,.0f} req/s under the profiler):")
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("tottime").print_stats(25)
            print("\n".join(out.getvalue().splitlines()[:45]))
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("cumulative").print_stats(r"rungwise|httpx/_client|sqlite|json")
            print("\n".join(out.getvalue().splitlines()[:55]))


if __name__ == "__main__":
    main()
