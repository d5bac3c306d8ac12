"""LoRA fine-tuning speed (printed, not asserted) against the floors:

    trained tokens/s, padding excluded, LoRA r=16 on all linear layers   >= 100 on 2 cores
    one epoch of 1,000 banking77 rows                                     <= 10 minutes

    python bench/bench_finetune.py [--task examples/banking77] [--train train.jsonl] [--steps 30]

Rows are the finetune rung's short prompt (the task's instruction, a blank line, the input, as one user
message; SmolLM2's template adds its default system prompt) and the target. A seeded sample of 1,000 rows
gives the token count of an epoch; `--steps` optimiser steps on them give the speed, and the epoch's time
is projected from both. The validation split is off so that only training is timed. Trained tokens are
the rows' real tokens (padding excluded); the prompt prefix the rows of a batch share is computed once.
The load average is printed too: other busy processes on the machine slow training a lot.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from rungwise.finetune.base_model import ensure_hf_copy, load_tokenizer
from rungwise.finetune.dataset import TrainingExample, encode_example, length_grouped_batches
from rungwise.finetune.threads import cpu_threads
from rungwise.finetune.train import LoraConfig, Progress, TrainingJob

REPO = Path(__file__).resolve().parent.parent


def load_rows(task: Path, train: Path | None, n: int, seed: int) -> list[TrainingExample]:
    path = train or task / "train.jsonl"
    if not path.is_file():
        sys.exit(f"No training rows at {path}: pass --train PATH (JSONL rows with 'input' and 'target').")
    instruction = ""
    if (task / "task.toml").is_file():
        import tomllib  # Python 3.11+

        instruction = tomllib.loads((task / "task.toml").read_text(encoding="utf-8")).get("instruction", "").strip()
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    random.Random(seed).shuffle(rows)
    out = []
    for row in rows[:n]:
        text = f"{instruction}\n\n{row['input']}" if instruction else row["input"]
        out.append(TrainingExample.of([{"role": "user", "content": text}], str(row["target"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", type=Path, default=REPO / "examples" / "banking77", help="task folder (instruction, train.jsonl)")
    ap.add_argument("--train", type=Path, default=None, help="training JSONL instead of the task's train.jsonl")
    ap.add_argument("--rows", type=int, default=1000, help="rows in the projected epoch")
    ap.add_argument("--steps", type=int, default=30, help="optimiser steps to time")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: chosen by measurement)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="where the Hugging Face copy of the model lives")
    args = ap.parse_args()

    examples = load_rows(args.task, args.train, args.rows, seed=0)
    t0 = time.perf_counter()
    ensure_hf_copy(cache_dir=args.cache_dir)
    print(f"base model ready (Hugging Face copy) in {time.perf_counter() - t0:.1f} s")
    tokenizer = load_tokenizer(cache_dir=args.cache_dir)
    enc = [encode_example(tokenizer, e) for e in examples]
    epoch_tokens = sum(len(e) for e in enc)
    batches = length_grouped_batches([len(e) for e in enc], args.batch_size, seed=0)
    padded = sum(len(b) * max(len(enc[i]) for i in b) for b in batches)
    print(
        f"{len(enc)} rows: {epoch_tokens} tokens ({epoch_tokens / len(enc):.1f} per row, "
        f"{sum(e.n_target for e in enc) / len(enc):.1f} answer tokens), "
        f"length-grouped batches of {args.batch_size} add {padded - epoch_tokens} padding tokens "
        f"({(padded - epoch_tokens) / padded:.1%})"
    )

    config = LoraConfig(
        r=args.r, alpha=2 * args.r, batch_size=args.batch_size, max_steps=args.steps,
        val_fraction=0.0, checkpoint_every=10**6, threads=args.threads,
    )
    load_before = os.getloadavg()[0]
    snapshots: list[Progress] = []

    def on_progress(p: Progress) -> None:
        snapshots.append(p)
        if p.step % 10 == 0:
            print(f"  step {p.step}/{p.total_steps} loss {p.loss:.3f} {p.tokens_per_s:.0f} tok/s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = TrainingJob(examples, Path(tmp) / "run", config, cache_dir=args.cache_dir, on_progress=on_progress).run()
        wall = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    per_s = result.trained_tokens / result.train_seconds
    # steady state: after the first step (warm-up) and the thread probes (steps 2-3 on 2 cores)
    settled = snapshots[min(len(snapshots) - 1, 4)]
    last = snapshots[-1]
    steady = (last.trained_tokens - settled.trained_tokens) / max(1e-9, last.elapsed_s - settled.elapsed_s)
    epoch_s = epoch_tokens / steady
    threads = f"{args.threads} threads" if args.threads else f"threads chosen by measurement among 1..{cpu_threads()}: {result.threads}"
    print(f"LoRA r={args.r} all linear, {threads}, device {result.device}, load average {load_before:.1f} -> {load_after:.1f}")
    print(f"{result.steps} steps, {result.trained_tokens} trained tokens (padding excluded) in {result.train_seconds:.1f} s "
          f"(job wall {wall:.1f} s with model load): {per_s:.0f} trained tokens/s overall, "
          f"{steady:.0f} after step {settled.step}   [floor >= 100]")
    print(f"projected epoch of {len(enc)} rows at the steady speed: {epoch_s:.0f} s = {epoch_s / 60:.1f} min   "
          "[floor <= 10 min for 1,000 rows]")


if __name__ == "__main__":
    main()
