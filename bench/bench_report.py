"""HTML report figures (printed, not asserted) against the floors:

    the report of a full banking77 climb (every eval row x ~10 variants) is written in <= 2 s and is <= 5 MB;
    in headless Chromium it is interactive (load event) in <= 1.5 s, and a filter applies in <= 200 ms

A stored run of banking77's size is synthesised by direct store writes (the real eval rows of examples/banking77;
ten variants answering with labels, some format failures, some near-miss outputs), summarised, judged and
recorded as a climb would. Then: load the record and write the page (timed, several repeats), its size, and
the page in headless Chromium (Debian's chromium, through Playwright with the system binary): the load event
and each filter (failures of a variant, a kind, rows one variant gets right and another wrong, a text search).

    python bench/bench_report.py [--repeats 3] [--variants 10] [--keep PATH]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rungwise.engine.job import ClimbResult
from rungwise.engine.runner import RunStats
from rungwise.judge.costs import price
from rungwise.judge.decide import decide
from rungwise.judge.summary import summarize
from rungwise.record.stored import load_report, record_climb
from rungwise.report.html import write_climb
from rungwise.store import ResultRow, Store
from rungwise.task.spec import Task

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [("baseline", "baseline", False, 0.02), ("prompt", "prompt", False, 0.05),
            ("prompt-constrained", "prompt", False, 0.30), ("fewshot-fixed", "fewshot", False, 0.10),
            ("fewshot-knn", "fewshot", False, 0.80), ("fewshot-knn-constrained", "fewshot", False, 0.82),
            ("knn-label", "fewshot", True, 0.93), ("finetune", "finetune", False, 0.55),
            ("finetune-constrained", "finetune", False, 0.65), ("prompt-short", "prompt", False, 0.04)]


def synthesise(store: Store, task: Task, n_variants: int, seed: int = 0) -> tuple[ClimbResult, list]:
    rng = random.Random(seed)
    examples = list(task.eval)
    labels = sorted({ex.target for ex in examples})
    run_id = store.create_run(task.name, str(task.folder), "bench", "fake:bench", {"full": True, "all": True})
    summaries, scores = [], {}
    for name, rung, probe, accuracy in VARIANTS[:n_variants]:
        store.record_variant(run_id, name, rung, {"probe": probe})
        rows = []
        for ex in examples:
            roll = rng.random()
            if roll < accuracy:
                out, score, failure = ex.target, 1.0, None
            elif roll < accuracy + (1 - accuracy) * 0.4 and "constrained" not in name:
                out, score, failure = ex.target.replace("_", " ") + " is the intent of this message", 0.0, "format"
            else:
                out, score, failure = rng.choice(labels), 0.0, "content"
            rows.append(ResultRow(name, ex.id, out, out, score, failure, 700 if "prompt" in name else 40, 4, 0,
                                  rng.uniform(0.1, 1.5), False, {}, None))
        store.add_results(run_id, [(r, None) for r in rows])
        summaries.append(summarize(name, rung, rows, binary=True, probe=probe))
        scores[name] = np.array([r.score for r in rows])
    costs = {s.name: price(s.name, s.mean_prompt_tokens, s.mean_completion_tokens, task.spec.costs) for s in summaries}
    decision = decide(summaries, scores, task.spec.target, costs_per_call={k: c.cost_per_call for k, c in costs.items()})
    result = ClimbResult(run_id=run_id, task=task.name, model="fake:bench", target=task.spec.target, metric="accuracy",
                         n_eval=len(examples), variants=summaries, skipped={}, recommendation=decision.recommendation,
                         shipped=decision.shipped, budget={"max_tokens": 16, "stop": ["\n"], "reason": "bench"},
                         stats=RunStats(calls=len(examples) * len(summaries)), costs=costs, decision=decision)
    store.finish_run(run_id, result.to_dict())
    return result, examples


def browser_figures(path: Path, repeats: int) -> None:
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser: skipped (pip install playwright)")
        return
    if chromium is None:
        print("browser: skipped (no chromium binary: apt-get install chromium)")
        return
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        loads = []
        filters: dict[str, list[float]] = {}
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(path.resolve().as_uri(), wait_until="load")
            loads.append(page.evaluate("(() => { const t = performance.getEntriesByType('navigation')[0];"
                                       " return t.loadEventEnd - t.startTime; })()"))
            for label, steps in (
                ("failures only (any variant)", [("kind", "fail")]),
                ("failures of one variant", [("variant", "4")]),
                ("format failures of it", [("kind", "format")]),
                ("right in A, wrong in B", [("kind", ""), ("variant", ""), ("va", "6"), ("vb", "4")]),
                ("reset", [("va", ""), ("vb", "")]),
            ):
                ms = page.evaluate("""(steps) => {
                    const t0 = performance.now();
                    for (const [id, value] of steps) {
                        const el = document.getElementById(id); el.value = value;
                        el.dispatchEvent(new Event('change'));
                    }
                    return [performance.now() - t0, +document.getElementById('rows').dataset.shown];
                }""", steps)
                filters.setdefault(f"{label} ({ms[1]} rows)", []).append(ms[0] / max(1, len(steps)))
            # text search: the box waits 120 ms after the last key; time the filter itself after that wait
            ms = page.evaluate("""() => new Promise((done) => {
                const rows = document.getElementById('rows'), q = document.getElementById('q');
                let t0 = 0;
                new MutationObserver(() => done([performance.now() - t0 - 120, +rows.dataset.shown]))
                    .observe(rows, {attributes: true});
                t0 = performance.now(); q.value = 'card'; q.dispatchEvent(new Event('input'));
            })""")
            filters.setdefault(f"text search 'card' ({ms[1]} rows; first search builds its index)", []).append(ms[0])
            page.close()
        browser.close()
    print(f"browser: load event {statistics.median(loads):.0f} ms (median of {repeats}; floor 1500 ms)")
    for label, values in filters.items():
        print(f"  filter {label}: {statistics.median(values):.1f} ms (floor 200 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="also copy the page here")
    opts = parser.parse_args()
    task = Task.load(ROOT / "examples" / "banking77")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        t = time.perf_counter()
        result, examples = synthesise(store, task, opts.variants)
        print(f"synthesised run: {len(examples)} rows x {len(result.variants)} variants in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        record_climb(result.record(), store, examples)
        print(f"record built and stored at the end of the climb: {time.perf_counter() - t:.2f} s")
        times = []
        path = Path(tmp) / "report.html"
        for _ in range(opts.repeats):
            t = time.perf_counter()
            write_climb(load_report(store, result.run_id), path)
            times.append(time.perf_counter() - t)
        size = path.stat().st_size
        print(f"report written (load the record + render + write): {statistics.median(times):.2f} s median of "
              f"{opts.repeats} (floor 2 s); size {size / 1e6:.2f} MB (floor 5 MB)")
        browser_figures(path, opts.repeats)
        if opts.keep:
            shutil.copy(path, opts.keep)
        store.close()


if __name__ == "__main__":
    main()
