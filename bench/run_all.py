"""Run every benchmark in bench/, one after another (never two at once: they measure speed on shared cores).

    python bench/run_all.py [--quick] [--only harness,cache,embedded,peers,retrieval,finetune]

Each script prints its own figures; nothing is asserted. `--quick` passes smaller sizes where a script takes
them. The peers benchmark needs its tools outside the project's environment (see bench/README.md): it finds
them through $RUNGWISE_BENCH_NODE and $RUNGWISE_BENCH_DSPY_PYTHON and skips a peer whose tool is missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHES: dict[str, tuple[list[str], list[str]]] = {
    # name: (arguments, arguments with --quick)
    "harness": ([], ["--n", "1000", "--rounds", "1", "--concurrency", "8"]),
    "cache": ([], ["--repeats", "1"]),
    "embedded": ([], ["--rows", "8", "--rows-input-first", "4", "--rounds", "1"]),
    "peers": ([], ["--rows", "10"]),
    "retrieval": ([], []),
    "finetune": ([], []),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(BENCHES))
    args = ap.parse_args()
    failed = []
    for name in args.only.split(","):
        script = HERE / f"bench_{name}.py"
        if name not in BENCHES or not script.is_file():
            print(f"== {name}: no bench/bench_{name}.py, skipped", flush=True)
            continue
        full, quick = BENCHES[name]
        cmd = [sys.executable, str(script), *(quick if args.quick else full)]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"== {name}: exit {rc}, {time.perf_counter() - start:.0f} s\n", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
