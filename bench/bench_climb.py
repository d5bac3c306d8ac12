"""The README's first climb, timed (printed, not asserted): `rungwise climb examples/banking77` on the embedded
model in a fresh store and, unless --warm, a fresh cache (so the weights are derived and the texts embedded, as
on a new machine).

Prints the wall time and where it went (before the first model call: deriving the weights, checks and
embeddings; then each variant, from the progress events), the shipped variant with its score, and the
efficiency: the model-call phase's wall time against the time the same work needs at the server's own measured
prompt and generation rates in this run (llama.cpp's /metrics; 1.00 means the harness adds nothing). The server
time adds up each slot's time: when two slots decode at once (RUNGWISE_SLOTS=2) their time overlaps
and the ratio falls below 1; `RUNGWISE_SLOTS=1` gives the harness's own overhead.

    python bench/bench_climb.py [--task examples/banking77] [--warm] [--threads N] [--score-every-row]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench_embedded import metrics as server_metrics  # a sibling script

from rungwise.engine.job import ClimbJob, ClimbOptions
from rungwise.progress import ProgressEvent

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default=str(ROOT / "examples" / "banking77"))
    ap.add_argument("--warm", action="store_true", help="keep the cache of an earlier run (weights, embeddings)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--score-every-row", action="store_true", help="no early stop (the climb as it was before it)")
    args = ap.parse_args()
    if args.threads:
        os.environ["RUNGWISE_THREADS"] = str(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-climb-"))
    if not args.warm:
        os.environ["RUNGWISE_CACHE_DIR"] = str(work / "cache")
        os.environ.pop("RUNGWISE_WEIGHTS_DIR", None)
    start = time.perf_counter()
    seen: dict[str, tuple[float, float]] = {}  # stage:name -> (first, last) time

    def on_progress(event: ProgressEvent) -> None:
        now = time.perf_counter() - start
        key = f"{event.stage}:{event.name}"
        first, _ = seen.get(key, (now, now))
        seen[key] = (first, now)

    from rungwise.models.embedded import EmbeddedModel, EmbeddedServer

    model = EmbeddedModel(server=EmbeddedServer())  # the bench holds the server, to read its /metrics at the end
    weights_s = time.perf_counter() - start
    job = ClimbJob(args.task, model, ClimbOptions(store_path=work / "store.db", early_stop=not args.score_every_row), progress=on_progress)
    result = job.run()
    wall = time.perf_counter() - start
    calls = {k: v for k, v in seen.items() if k.startswith("calls:")}
    first_call = min((v[0] for v in calls.values()), default=wall)
    print(f"task {result.task}: {wall:.0f} s in all ({wall / 60:.1f} min), threads "
          f"{model.server.n_threads}, weights {model.server.gguf_path.name}")
    print(f"  model construction (derives the weights on a fresh cache): {weights_s:.1f} s")
    print(f"  before the first model call (checks, embeddings, budgets): {first_call:.1f} s")
    for key, (first, last) in sorted(seen.items(), key=lambda kv: kv[1][0]):
        print(f"  {key:40s} {first:7.1f} s -> {last:7.1f} s  ({last - first:6.1f} s)")
    by_name = {v.name: v for v in result.variants}
    from rungwise.store import Store

    with Store(work / "store.db") as store:
        rows = store.results(result.run_id)
    for v in result.variants:
        called = [r for r in rows if r.variant == v.name and not r.extras.get("derived")]
        cached = sum(r.cached_tokens for r in called) / max(len(called), 1)
        print(f"  {v.name:28s} {v.score:6.1%} [{v.low:.1%}, {v.high:.1%}]  prompt {v.mean_prompt_tokens:6.0f} "
              f"(cached {cached:5.0f})  generated {v.mean_completion_tokens:4.1f}  p50 {v.latency_p50_s:.2f} s  "
              f"{len(called)} calls" + (f" (stopped after {v.n} of {result.n_eval} rows)" if v.stopped else ""))
    shipped = result.decision.shipped if result.decision else None
    if shipped in by_name:
        v = by_name[shipped]
        print(f"shipped: {shipped} at {v.score:.1%} [{v.low:.1%}, {v.high:.1%}]")
    print(f"model calls {result.stats.calls}, derived {result.stats.derived}, from cache {result.stats.cache_hits}")
    base_url = model.server.base_url
    if base_url:
        m = server_metrics(base_url)
        busy = m.get("prompt_seconds_total", 0.0) + m.get("tokens_predicted_seconds_total", 0.0)
        prompt_tps = m.get("prompt_tokens_total", 0.0) / max(m.get("prompt_seconds_total", 0.0), 1e-9)
        gen_tps = m.get("tokens_predicted_total", 0.0) / max(m.get("tokens_predicted_seconds_total", 0.0), 1e-9)
        phase = wall - first_call
        print(f"server: prompt {prompt_tps:.0f} tok/s, generation {gen_tps:.0f} tok/s, busy {busy:.0f} s; "
              f"model-call phase {phase:.0f} s; efficiency {phase / max(busy, 1e-9):.2f} (wall / server time; "
              f"{model.server.n_parallel} slot(s): below 1 when they overlap)")
        model.server.stop()


if __name__ == "__main__":
    main()
