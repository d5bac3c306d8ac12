"""Cache re-run figures (printed, not asserted) against the floor:

    a re-run of an unchanged 3,080-row eval makes no model calls and finishes in <= 3 s

An instant OpenAI-compatible endpoint (bench/loopback.py, its own process) stands in for the model. A climb of
examples/banking77 with the prompt rung on the full eval fills a fresh store; then new runs (resume=False, so
every answer must come from the response cache) are timed, with the dataset checks' near-duplicate step on
(it loads MiniLM and embeds train and eval: cached on disk after the first time, but the model still loads)
and off. Each timed re-run is a fresh process, as a user's `rungwise climb` is: it prints the climb's wall time
(task load + checks + climb) and the process's own (imports included). The checks are also timed on their own.

    python bench/bench_cache.py [--repeats 2] [--profile]
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import LoopbackServer  # noqa: E402

from rungwise.engine.job import ClimbOptions, ClimbResult, climb  # noqa: E402
from rungwise.models.registry import resolve_model  # noqa: E402
from rungwise.paths import cache_root  # noqa: E402
from rungwise.task.checks import run_checks  # noqa: E402
from rungwise.task.spec import Task  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TASK = REPO / "examples" / "banking77"
MODEL_NAME = "loopback"


def load(near: bool) -> Task:
    task = Task.load(TASK)
    task.spec.checks.near_duplicates = near
    return task


def timed_climb(url: str, store: Path, near: bool, resume: bool = False) -> tuple[float, ClimbResult]:
    """Wall time of task load + climb (checks included), as a user's re-run would see it."""
    start = time.perf_counter()
    task = load(near)
    model = resolve_model(url, model_name=MODEL_NAME)
    result = climb(task, model, ClimbOptions(full=True, rungs=["prompt"], store_path=store, resume=resume))
    return time.perf_counter() - start, result


def child(url: str, store: Path, near: bool) -> None:
    imported = time.perf_counter() - _T0
    wall, res = timed_climb(url, store, near=near)
    print(json.dumps({"wall": wall, "process": time.perf_counter() - _T0, "imports": imported, "rows": res.n_eval,
                      "calls": res.stats.calls, "hits": res.stats.cache_hits, "run": res.run_id}))


def rerun_in_child(url: str, store: Path, near: bool) -> dict:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", url, str(store), "1" if near else "0"],
                         check=True, capture_output=True, text=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    info["outside"] = time.perf_counter() - start
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description="Re-run an unchanged full banking77 eval from the response cache.")
    ap.add_argument("--repeats", type=int, default=2, help="timed re-runs of each kind")
    ap.add_argument("--profile", action="store_true", help="one more re-run (check off) in-process under cProfile")
    ap.add_argument("--child", nargs=3, metavar=("URL", "STORE", "NEAR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.child[2] == "1")
        return

    with LoopbackServer() as url, tempfile.TemporaryDirectory() as tmpdir:
        store = Path(tmpdir) / "rungwise.db"
        print(f"endpoint {url} (own process); store on a temp file; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")

        # Fill: near-duplicate check off, so every row that any later run scores is in the cache.
        wall, res = timed_climb(url, store, near=False)
        print(f"fill run      {wall:6.2f} s   rows {res.n_eval}   calls {res.stats.calls}   cache hits {res.stats.cache_hits}")

        t = time.perf_counter()
        task = load(True)
        t_load = time.perf_counter() - t
        t = time.perf_counter()
        run_checks(task, cache_dir=cache_root(), near=False)
        t_checks_exact = time.perf_counter() - t
        t = time.perf_counter()
        run_checks(task, cache_dir=cache_root(), near=True)  # warms the embedding cache when cold
        t_checks_first = time.perf_counter() - t
        t = time.perf_counter()
        run_checks(task, cache_dir=cache_root(), near=True)
        t_checks_near = time.perf_counter() - t
        print(f"task load {t_load:.2f} s; checks without near-duplicates {t_checks_exact:.2f} s; "
              f"with near-duplicates {t_checks_first:.2f} s (first in this process: loads MiniLM) then {t_checks_near:.2f} s")

        for near in (True, False):
            walls = []
            for _ in range(args.repeats):
                info = rerun_in_child(url, store, near)
                walls.append(info["wall"])
                print(f"re-run, fresh process, near-duplicate check {'on ' if near else 'off'}: climb {info['wall']:5.2f} s "
                      f"(process {info['process']:5.2f} s, of which imports {info['imports']:.2f} s)   rows {info['rows']}   "
                      f"calls {info['calls']}   cache hits {info['hits']}")
            print(f"  median climb {statistics.median(walls):.2f} s   (floor: <= 3 s and 0 calls)")

        if args.profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            wall, res = timed_climb(url, store, near=False)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(r"rungwise/(?!.*__init__)", 30)
            print(f"\ncProfile of a re-run in this process ({wall:.2f} s under the profiler, {res.stats.calls} calls):")
            print("\n".join(out.getvalue().splitlines()[:45]))

if __name__ == "__main__":
    main()
