"""The fine-tune rung on a team's own model, timed: a LoRA trained with TRL (rungwise's launched entry point, the
finetune rung's rows of one shipped example) on a Hugging Face folder, then served and scored. Printed, never
asserted; meant for a machine with a GPU (it runs on CPU too, slowly).

    python bench/bench_open_weights.py [--task examples/banking77] [--rows 1000] [--base-weights DIR]
        [--launcher python|accelerate --accelerate-config FILE] [--serve URL --model-name NAME]

Without --base-weights it trains the embedded model's Hugging Face copy. With --serve (an OpenAI-compatible
server running that folder: vLLM, SGLang, llama.cpp or Ollama) the adapter is loaded there as a climb loads it
and the eval sample is scored through it; without, only the training is timed. Prints the training's wall time,
trained tokens per second, device and processes, and the adapter's load time and eval score.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from rungwise.finetune.base_model import ensure_hf_copy
from rungwise.finetune.trl_job import TrlJob, run_trl
from rungwise.judge.stats import wilson_interval
from rungwise.metrics.scoring import Scorer
from rungwise.models.adapter_serving import serve_adapter
from rungwise.models.base import Request
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.rungs.finetune import lora_config, short_messages, train_pool
from rungwise.task.spec import Task

ROOT = Path(__file__).resolve().parents[1]


async def score(task: Task, base: OpenAIHttpModel, adapter: Path, eval_rows: int) -> None:
    await base.open()
    t0 = time.perf_counter()
    tuned = serve_adapter(base, adapter, name=f"bench-{adapter.parent.name}", rank=task.spec.finetune.r,
                          server_path=str(adapter.resolve()))
    print(f"adapter served on {base.info.server_kind} in {time.perf_counter() - t0:.1f} s", flush=True)
    scorer = Scorer(task)
    examples = task.eval_rows(sample=eval_rows, seed=task.spec.eval.seed)
    t0 = time.perf_counter()
    scores = []
    for ex in examples:
        c = await tuned.complete(Request(short_messages(task, ex.input), max_tokens=32))
        scores.append(scorer.score(c.text, ex).score)
    scorer.close()
    await tuned.aclose()
    await base.aclose()
    ok = sum(scores)
    ci = wilson_interval(ok, len(scores))
    print(f"eval {ok / len(scores):.1%} [{ci.low:.1%}, {ci.high:.1%}] on {len(scores)} rows in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default=str(ROOT / "examples" / "banking77"))
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--eval-rows", type=int, default=200)
    ap.add_argument("--base-weights", type=Path, default=None)
    ap.add_argument("--launcher", choices=["python", "accelerate"], default="python")
    ap.add_argument("--accelerate-config", type=Path, default=None)
    ap.add_argument("--serve", default=None, help="an OpenAI-compatible base URL serving --base-weights")
    ap.add_argument("--model-name", default=None)
    args = ap.parse_args()
    task = Task.load(Path(args.task))
    weights = args.base_weights or ensure_hf_copy()
    pool = train_pool(task)[: args.rows]
    rows = [(short_messages(task, ex.input), ex.target) for ex in pool]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        job = TrlJob.of(rows, lora_config(task), base_dir=weights, folder=folder)
        t0 = time.perf_counter()
        result = run_trl(job, folder, launcher=args.launcher, accelerate_config=args.accelerate_config)
        wall = time.perf_counter() - t0
        print(f"TRL: {result['examples']} rows, {result['steps']}/{result['total_steps']} steps, "
              f"{result['trained_tokens']:,} tokens in {result['train_seconds']:.1f} s of training "
              f"({wall:.1f} s with the launch): {result['tokens_per_s']:.0f} tokens/s on {result['device']} x"
              f"{result.get('processes', 1)}, stop: {result['stop_reason']}, val loss {result['val_loss']}",
              flush=True)
        if args.serve:
            asyncio.run(score(task, OpenAIHttpModel(args.serve, args.model_name or "model"), folder / "adapter",
                              args.eval_rows))


if __name__ == "__main__":
    main()
