"""Learning curves on a shipped example: each curve's points, the rows its target needs, the honest check (fit on
all sizes but the largest, predict the largest: the error is printed, never asserted) and what the curve cost in
time against its full-pool variant (the floor: a three-point curve adds at most 1.5x the full variant's time).

    python bench/bench_curve.py examples/nemo_itn --rungs fewshot --sample 60
    python bench/bench_curve.py examples/banking77 --rungs finetune --sample 200      # tens of minutes on 2 cores

It climbs with `--curve --all` on the embedded model, in a store of its own under the system's temp folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rungwise.engine.job import ClimbOptions, climb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", type=Path)
    parser.add_argument("--rungs", default="fewshot", help="fewshot, finetune or both (comma-separated)")
    parser.add_argument("--sample", type=int, default=60)
    args = parser.parse_args()
    store = Path(tempfile.mkdtemp(prefix="rungwise-bench-curve-")) / "curve.db"
    started = time.perf_counter()
    result = climb(args.task, "local", ClimbOptions(rungs=args.rungs.split(","), all_rungs=True, curve=True,
                                                   sample=args.sample, store_path=store))
    wall = time.perf_counter() - started
    seconds = {}
    for o in result.outcomes:
        meta = o.artifacts[0][3] if o.artifacts and not o.variant.twin_of else {}
        seconds[o.summary.name] = o.summary.seconds_per_example * o.summary.n + float(meta.get("train_seconds", 0.0))
    print(f"{result.task}: {result.metric} on {result.n_eval} eval rows, target {result.target:.0%}, climb {wall:.0f} s")
    for c in result.curves:
        print(f"\n{c['name']}  (fit: score = {c['fit']['a']:.3f} - {c['fit']['b']:.3f} * n^-{c['fit']['c']:.3f})")
        print(f"  {'rows':>7}  {'score':>6}  {'95% CI':>15}  {'seconds':>8}  variant")
        for n, s, lo, hi, v in zip(c["sizes"], c["scores"], c["lows"], c["highs"], c["variants"], strict=True):
            print(f"  {n:>7,}  {s:>6.1%}  [{lo:>5.1%}, {hi:>5.1%}]  {seconds.get(v, 0):>8.0f}  {v}")
        check = c.get("check")
        if check:
            print(f"  honest check: fitted on {check['fitted_on']}, predicted {check['predicted']:.1%} at "
                  f"{check['size']:,} rows, measured {check['measured']:.1%}: error {check['error'] * 100:+.1f} points")
        full, extra = c["variants"][-1], sum(seconds.get(v, 0) for v in c["variants"][:-1])
        if seconds.get(full):
            print(f"  the smaller points took {extra:.0f} s: {extra / seconds[full]:.2f}x the full variant's "
                  f"{seconds[full]:.0f} s (floor: at most 1.5x)")
        print(f"  {c['sentence']}")


if __name__ == "__main__":
    main()
