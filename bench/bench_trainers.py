"""rungwise's LoRA trainer against TRL's SFTTrainer on the same rows, model and settings (printed, not asserted).

Both train SmolLM2-135M-Instruct (the embedded model's Hugging Face copy) with LoRA r=16, alpha 32, on every
linear layer, loss on the answer tokens only, batch 8, learning rate 5e-4, one epoch, seed 0, no validation
split, on the finetune rung's rows (the short prompt and the target) of a seeded sample of train. Printed: wall
time of the training, trained tokens (the rows' real tokens, padding excluded) per second, the last loss; then
each adapter exported to GGUF, served by the embedded llama.cpp server and scored on the task's eval sample
(exact McNemar between the two).

    pip install -e ".[finetune]"   # TRL and datasets come with the finetune extra
    python bench/bench_trainers.py [--task examples/banking77] [--rows 400] [--eval-rows 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from rungwise.finetune.base_model import ensure_hf_copy, load_tokenizer
from rungwise.finetune.dataset import TrainingExample, encode_example
from rungwise.finetune.export_gguf import export_lora_gguf
from rungwise.finetune.train import LoraConfig, TrainingJob
from rungwise.judge.stats import compare_rows, wilson_interval
from rungwise.metrics.scoring import Scorer
from rungwise.models.base import Request
from rungwise.models.embedded import EmbeddedModel
from rungwise.models.tokens import TokenCounter
from rungwise.rungs.finetune import short_messages
from rungwise.rungs.prompting import derive_budget
from rungwise.task.data import fold
from rungwise.task.spec import Task

ROOT = Path(__file__).resolve().parents[1]


def rows_of(task: Task, n: int) -> list[TrainingExample]:
    held_out = {fold(ex.input) for ex in task.eval}
    pool = [ex for ex in task.train if fold(ex.input) not in held_out]
    random.Random(0).shuffle(pool)
    return [TrainingExample(short_messages(task, ex.input), ex.target) for ex in pool[:n]]


def train_ours(rows: list[TrainingExample], out: Path) -> tuple[Path, float, int, float | None, int]:
    config = LoraConfig(r=16, alpha=32, lr=5e-4, epochs=1, batch_size=8, val_fraction=0.0, patience=None,
                        checkpoint_every=10**6, seed=0)
    t0 = time.perf_counter()
    result = TrainingJob(rows, out, config).run()
    return result.adapter_dir, time.perf_counter() - t0, result.trained_tokens, result.train_loss, result.threads


def train_trl(rows: list[TrainingExample], out: Path) -> tuple[Path, float, int, float | None, int]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig as PeftLora
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    model_dir = ensure_hf_copy()
    tokenizer = load_tokenizer()
    data = Dataset.from_list([{"prompt": r.chat(), "completion": [{"role": "assistant", "content": r.target}]}
                              for r in rows])
    args = SFTConfig(output_dir=str(out), per_device_train_batch_size=8, num_train_epochs=1, learning_rate=5e-4,
                     lr_scheduler_type="linear", warmup_steps=min(10, max(1, len(rows) // 80)),
                     completion_only_loss=True, max_length=1024, save_strategy="no", report_to=[],
                     logging_steps=10, seed=0, use_cpu=not torch.cuda.is_available(), bf16=False,
                     dataloader_num_workers=0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    peft_config = PeftLora(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                         peft_config=peft_config)
    t0 = time.perf_counter()
    out_state = trainer.train()
    seconds = time.perf_counter() - t0
    adapter = out / "adapter"
    trainer.model.save_pretrained(adapter)
    tokens = sum(len(encode_example(tokenizer, r)) for r in rows)
    return adapter, seconds, tokens, float(out_state.training_loss), torch.get_num_threads()


async def score(task: Task, gguf: Path, examples: list[Any]) -> dict[str, float]:
    model = EmbeddedModel(lora_paths=[gguf])
    await model.open()
    try:
        budget = await derive_budget(task, TokenCounter(model, conservative=True, calibrated=False).count)
        gate = asyncio.Semaphore(model.max_concurrency)
        scorer = Scorer(task)

        async def one(ex: Any) -> tuple[str, float]:
            async with gate:
                c = await model.complete(Request(short_messages(task, ex.input), max_tokens=budget.max_tokens,
                                                 stop=budget.stop))
            return ex.id, scorer.score(c.text, ex).score

        out = dict(await asyncio.gather(*[one(ex) for ex in examples]))
        scorer.close()
        return out
    finally:
        await model.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default=str(ROOT / "examples" / "banking77"))
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--eval-rows", type=int, default=200)
    args = ap.parse_args()
    task = Task.load(Path(args.task))
    rows = rows_of(task, args.rows)
    examples = task.eval_rows(sample=args.eval_rows, seed=task.spec.eval.seed)
    ensure_hf_copy()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, train in (("rungwise", train_ours), ("trl 1.16", train_trl)):
            try:
                adapter, seconds, tokens, loss, threads = train(rows, Path(tmp) / name.split()[0])
            except ImportError as e:
                print(f"{name}: not installed ({e.name}); pip install -e \".[finetune]\"")
                continue
            gguf = export_lora_gguf(adapter, Path(tmp) / f"{name.split()[0]}.gguf")
            scores = asyncio.run(score(task, gguf, examples))
            results[name] = scores
            ok = sum(scores.values())
            ci = wilson_interval(ok, len(scores))
            loss_text = f"{loss:.3f}" if loss is not None else "-"
            print(f"{name:<9} {len(rows)} rows, {tokens:,} tokens in {seconds:.1f} s: {tokens / seconds:.0f} "
                  f"tokens/s ({threads} threads), loss {loss_text}; eval {ok / len(scores):.1%} "
                  f"[{ci.low:.1%}, {ci.high:.1%}] on {len(scores)} rows", flush=True)
    if len(results) == 2:
        a, b = results.values()
        test = compare_rows(a, b)
        if test is not None:
            print(f"trl - rungwise: {test.difference * 100:+.1f} points, p={test.p_value:.3g} (exact McNemar)")


if __name__ == "__main__":
    main()
