"""How often is a climb's verdict right? Replays of the 200-row climb, of `--decide` and of the whole pool.

For each shipped example:

1. the plain climb (`rungwise climb EXAMPLE`, the embedded model): its verdict, and the variants it rests on:
   the lead (the LLM variant it ships, or its best) and the reference that needs no LLM (the kNN label);
2. those variants scored once on a large pool of eval rows (the whole eval when the lead's measured rate scores
   it within `--pool-minutes`, else a seeded `--pool` rows), answers kept in the bench's store;
3. with no further model call, `--replays` seeded climbs on the pool, each as the climb would run with that seed
   on an eval file holding the pool's rows: the fixed 200-row climb (early stop's looks included), `--decide`
   with its default budget (the file's rows) and the whole pool. Every replay runs the climb's own judgement:
   `early_stop.futility`, `sequential.Looks` through `sequential.replay`, and `decide()` on `summarize`d rows.

It prints, per example and mode, how often the shipped variant, the "meets the target" verdict and the "cheaper
ship" verdict (the no-LLM reference shipped, or the LLM rung) agree with the whole pool's, how often a claim was
left open, and the mean rows each variant scored (model calls: the reference needs none).

    python bench/bench_decisions.py                                   # the four examples, pools of 1,000 rows
    python bench/bench_decisions.py --examples banking77 --replays 2000
    python bench/bench_decisions.py --pool-minutes 20 --json decisions.json

The store (default: a folder under the system's temp folder, or `--store`) keeps every answer: a second run
replays without a model call.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rungwise.engine.job import ClimbOptions, VariantOutcome, climb
from rungwise.judge import early_stop, sequential
from rungwise.judge.costs import price
from rungwise.judge.decide import Decision, decide, lead_of
from rungwise.judge.summary import summarize
from rungwise.task.spec import Task

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["banking77", "nemo_itn", "usaddress", "xquad_en"]
MODES = ["200 rows", "--decide", "whole pool"]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a climb's decision says: the ship, whether it meets the target, and which of the no-LLM reference
    and the LLM rung is the ship ("open" where the claim is not settled)."""

    ship: str
    meets: str
    cheaper: str
    rows: dict[str, int]

    @classmethod
    def of(cls, decision: Decision, reference: str | None, rows: dict[str, int]) -> Verdict:
        open_kinds = {c[0] for c in (decision.next_step or {}).get("claims", [])}
        shipped = decision.shipped
        meets = "open" if "target" in open_kinds else ("meets" if shipped else "misses")
        if reference is None:
            cheaper = "no reference"
        elif "versus" in open_kinds:
            cheaper = "open"
        else:
            cheaper = "reference" if shipped == reference else ("LLM rung" if shipped else "neither ships")
        return cls(shipped or "nothing", meets, cheaper, rows)


def _judge(outcomes: dict[str, VariantOutcome], ids: Mapping[str, Sequence[str]], task: Task, binary: bool,
           reference: str | None, looks: dict[str, Any] | None = None) -> Verdict:
    """The climb's decide() on each variant's rows `ids` (summaries rebuilt as the climb builds them)."""
    summaries, scores = [], {}
    for name, o in outcomes.items():
        keep = set(ids[name])
        rows = [r for r in o.rows if r.example_id in keep]
        s = o.summary
        summaries.append(summarize(s.name, s.rung, rows, binary=binary, probe=s.probe, kind=s.kind,
                                   purpose=s.purpose, retrieval=s.retrieval, twin_of=s.twin_of,
                                   description=s.description))
        scores[name] = {r.example_id: r.score for r in rows}
    costs = {s.name: price(s.name, s.mean_prompt_tokens, s.mean_completion_tokens, task.spec.costs).cost_per_call
             for s in summaries}
    decision = decide(summaries, scores, task.spec.target, costs_per_call=costs, looks=looks)
    return Verdict.of(decision, reference, {n: len(ids[n]) for n in outcomes})


def replay_once(seed: int, pool: Task, outcomes: dict[str, VariantOutcome], lead: str, reference: str | None,
                sample: int, binary: bool) -> tuple[Verdict, Verdict]:
    """One seeded climb on an eval file holding the pool's rows: the fixed-sample verdict and --decide's."""
    target = pool.spec.target
    examples = pool.eval_rows(sample=sample, seed=seed)
    order = early_stop.look_order(examples, seed)
    ids = [ex.id for ex in order]
    full = {n: {r.example_id: r.score for r in o.rows} for n, o in outcomes.items()}
    # the lead, a ladder variant, is scored in early stop's looks and may stop at one; the reference never stops
    lead_rows = ids
    for end in early_stop.looks_for(len(ids))[:-1]:
        if early_stop.futility([full[lead][i] for i in ids[:end]], target, len(ids), binary=binary) is not None:
            lead_rows = ids[:end]
            break
    fixed_ids = {lead: lead_rows, **({reference: ids} if reference else {})}
    fixed = _judge(outcomes, fixed_ids, pool, binary, reference)
    if len(lead_rows) < len(ids):  # a lead stopped early is settled: --decide takes no look
        return fixed, fixed
    every = [ex.id for ex in sequential.extension_order(order, pool.eval, seed, key=lambda ex: ex.id)]
    looks, stopped = sequential.replay(full, every, lead, reference, target, binary=binary, first=len(ids))
    last = looks[-1]
    decide_ids = {n: every[: int(last.variants[n]["n"])] for n in outcomes}
    record = {"resolved": stopped == "resolved", "stopped": stopped, "schedule": sequential.schedule(len(ids),
              len(every)), "looks": [look.to_dict() for look in looks]}
    return fixed, _judge(outcomes, decide_ids, pool, binary, reference, looks=record)


def bench_example(name: str, store: Path, replays: int, pool_rows: int, pool_minutes: float) -> dict[str, Any]:
    folder = ROOT / "examples" / name
    started = time.perf_counter()
    plain = climb(folder, "local", ClimbOptions(store_path=store))
    plain_s = time.perf_counter() - started
    summaries = plain.variants
    lead = lead_of(summaries, plain.target)
    reference = next((s for s in summaries if s.purpose == "reference"), None)
    assert lead is not None, f"{name}: the climb scored no LLM variant"
    names = [lead.name] + ([reference.name] if reference else [])
    rungs = list(dict.fromkeys([lead.rung] + ([reference.rung] if reference else [])))
    available = len(Task.load(folder).eval)
    minutes = available * lead.seconds_per_example / 60.0
    full = minutes <= pool_minutes or available <= pool_rows
    started = time.perf_counter()
    pooled = climb(folder, "local", ClimbOptions(store_path=store, rungs=rungs, variants=names, early_stop=False,
                                                 decide=False, full=full, sample=None if full else pool_rows))
    pool_s = time.perf_counter() - started
    outcomes = {o.summary.name: o for o in pooled.outcomes if o.summary.name in names}
    binary = all(r.score in (0.0, 1.0) for o in outcomes.values() for r in o.rows)
    task = Task.load(folder)
    in_pool = {r.example_id for r in outcomes[lead.name].rows}
    pool = dataclasses.replace(task, eval=[ex for ex in task.eval if ex.id in in_pool])
    ref = reference.name if reference else None
    whole = _judge(outcomes, {n: [r.example_id for r in o.rows] for n, o in outcomes.items()}, pool, binary, ref)
    sample = task.spec.eval.sample or len(pool.eval)
    started = time.perf_counter()
    runs: dict[str, list[Verdict]] = {m: [] for m in MODES}
    for seed in range(replays):
        fixed, decided = replay_once(seed, pool, outcomes, lead.name, ref, sample, binary)
        runs["200 rows"].append(fixed)
        runs["--decide"].append(decided)
        runs["whole pool"].append(whole)
    replay_s = time.perf_counter() - started
    table = {}
    for mode, verdicts in runs.items():
        n = len(verdicts)
        table[mode] = {
            "ship": sum(v.ship == whole.ship for v in verdicts) / n,
            "meets": sum(v.meets == whole.meets for v in verdicts) / n,
            "cheaper": sum(v.cheaper == whole.cheaper for v in verdicts) / n,
            "open": sum("open" in (v.meets, v.cheaper) for v in verdicts) / n,
            "rows": {x: sum(v.rows[x] for v in verdicts) / n for x in names},
        }
    return {"example": name, "plain_climb": {"seconds": plain_s, "shipped": plain.shipped, "n": plain.n_eval},
            "lead": lead.name, "reference": ref, "pool": len(pool.eval), "whole_eval": full,
            "available": available, "pool_seconds": pool_s, "replays": replays, "replay_seconds": replay_s,
            "pool_verdict": dataclasses.asdict(whole), "modes": table,
            "scores": {n: o.summary.score for n, o in outcomes.items()}}


def print_example(r: dict[str, Any]) -> None:
    v = r["pool_verdict"]
    pool = f"{r['pool']:,} rows ({'the whole eval' if r['whole_eval'] else 'a seeded pool'} of {r['available']:,})"
    print(f"\n{r['example']}: lead '{r['lead']}', reference {r['reference'] or '(none)'}; pool {pool}, scored in "
          f"{r['pool_seconds'] / 60:.1f} min; plain climb {r['plain_climb']['seconds'] / 60:.1f} min")
    print("  pool scores: " + ", ".join(f"{n} {s:.1%}" for n, s in r["scores"].items()))
    print(f"  the pool's verdict: ship {v['ship']}, {v['meets']} the target, cheaper ship: {v['cheaper']}")
    print(f"  {r['replays']:,} replays in {r['replay_seconds']:.0f} s (no model call)")
    lead = r["lead"]
    print(f"  {'mode':<11} {'ship agrees':>11} {'meets agrees':>12} {'cheaper agrees':>14} {'open':>6} "
          f"{'rows of lead':>12} {'rows of reference':>17}")
    for mode, m in r["modes"].items():
        ref_rows = f"{m['rows'][r['reference']]:,.0f}" if r["reference"] else "-"
        print(f"  {mode:<11} {m['ship']:>11.1%} {m['meets']:>12.1%} {m['cheaper']:>14.1%} {m['open']:>6.1%} "
              f"{m['rows'][lead]:>12,.0f} {ref_rows:>17}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=",".join(EXAMPLES))
    parser.add_argument("--replays", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=1000, help="rows of the pool when the whole eval does not fit")
    parser.add_argument("--pool-minutes", type=float, default=60.0,
                        help="score the whole eval when the lead's measured rate does it within this")
    parser.add_argument("--store", type=Path, default=None, help="the store that keeps the answers (SQLite file)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    store = args.store or Path(tempfile.gettempdir()) / "rungwise-bench-decisions" / "decisions.db"
    store.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for name in args.examples.split(","):
        r = bench_example(name, store, args.replays, args.pool, args.pool_minutes)
        print_example(r)
        out.append(r)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
