"""The finetune rung: a LoRA trained on train with the *short* prompt (the team's own instruction: no label
list, no examples), exported as a GGUF LoRA and served by llama.cpp on top of the same Q4_1 base.

For a task with a corpus it also trains and evaluates an adapter that sees the retrieved passages: knowledge
from retrieval, behaviour (a short span instead of a sentence) from the weights.

The adapter is an artifact of the run: its training config, the hash of its data and the fingerprint of its
base model travel with it, so a later run can tell an adapter trained on another base model (stale).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rungwise.data import Example, fold
from rungwise.errors import MissingExtra
from rungwise.models.base import Message, Request
from rungwise.rungs.base import Rung, RungContext, RungSkipped, Variant
from rungwise.rungs.constrained import constrained, constraint_for
from rungwise.task import Task

#: progress(name, done, total): the same callback the runner uses, here for training steps
TrainProgress = Callable[[str, int, int], None]


def short_messages(task: Task, text: str) -> tuple[Message, ...]:
    """The short prompt: the team's instruction and the input, nothing else (the baseline's messages)."""
    return (Message("user", f"{task.spec.instruction.strip()}\n\n{text}"),)


def rag_messages(task: Task, passages: list[str], text: str) -> tuple[Message, ...]:
    from rungwise.rungs.rag import user_with_context

    return (Message("user", f"{task.spec.instruction.strip()}\n\n{user_with_context(passages, text)}"),)


def train_pool(task: Task) -> list[Example]:
    """Train rows minus any that fold to an eval input, sampled (seeded) to `max_examples`."""
    eval_inputs = {fold(ex.input) for ex in task.eval}
    pool = [ex for ex in task.train if fold(ex.input) not in eval_inputs]
    n = task.spec.finetune.max_examples
    if len(pool) > n:
        rng = random.Random(task.spec.eval.seed)
        pool = [pool[i] for i in sorted(rng.sample(range(len(pool)), n))]
    return pool


def data_hash(rows: list[tuple[tuple[Message, ...], str]]) -> str:
    blob = json.dumps([[[[m.role, m.content] for m in msgs], target] for msgs, target in rows])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class FinetuneRung(Rung):
    name = "finetune"

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        if not task.train:
            raise RungSkipped("no train.jsonl: a fine-tune needs training rows")
        if context.dry_run:
            raise RungSkipped("a dry run trains nothing; the finetune rung's cost is measured when it runs")
        if not getattr(context.model, "fine_tunable", False):
            raise RungSkipped(
                f"{context.model.name} cannot be fine-tuned here; export the training set with "
                "`rungwise export-finetune TASK` and tune it on your provider or GPUs (TRL, axolotl)"
            )
        try:
            import peft  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            raise RungSkipped(str(MissingExtra("torch and peft", "finetune"))) from None
        pool = train_pool(task)
        variants = self._variants(task, context, "finetune", [(short_messages(task, ex.input), ex.target) for ex in pool],
                                  lambda ex: short_messages(task, ex.input))
        if task.corpus_path is not None and task.spec.finetune.with_rag:
            passages = _retriever(task, context)
            rows = [(rag_messages(task, passages(ex.input), ex.input), ex.target) for ex in pool]
            variants += self._variants(task, context, "finetune-rag", rows,
                                       lambda ex: rag_messages(task, passages(ex.input), ex.input))
        return variants

    def _variants(self, task: Task, context: RungContext, name: str, rows: list[tuple[tuple[Message, ...], str]],
                  messages: Callable[[Example], tuple[Message, ...]]) -> list[Variant]:
        """The tuned model with the short prompt; for label and JSON tasks also with its output constrained
        (a tuned small model learns the labels' style before it learns the label set itself)."""
        from rungwise.models.embedded import EmbeddedModel, file_digest

        adapter, meta = train_adapter(task, context, name, rows)
        model = EmbeddedModel(lora_paths=[adapter])
        context.resources.setdefault("owned_models", []).append(model)  # the climb stops its server
        budget = context.budget

        def build(ex: Example) -> Request:
            return Request(messages(ex), max_tokens=budget.max_tokens, stop=budget.stop)

        meta["adapter_sha256"] = file_digest(adapter)[:16]
        variants = [Variant(name, self.name, build, model=model, config={"adapter": {"path": str(adapter), **meta}})]
        constraint = constraint_for(task, model) if task.spec.output.constrained else None
        if constraint is not None:  # the same adapter (one artifact), the output constrained
            variants.append(Variant(f"{name}-constrained", self.name, lambda ex: constrained(build(ex), constraint),
                                    model=model, config={"adapter_of": name, "adapter_sha256": meta["adapter_sha256"],
                                                         "constraint": sorted(constraint)}))
        return variants


def _retriever(task: Task, context: RungContext) -> Callable[[str], list[str]]:
    from rungwise.retrieval import fit_to_budget
    from rungwise.rungs.rag import _documents, _index

    index = _index(task, context, _documents(task, context))
    spec = task.spec.rag
    memo: dict[str, list[str]] = {}

    def passages(text: str) -> list[str]:
        if text not in memo:
            hits = index.search(text, k=spec.k, mode="hybrid")
            memo[text] = fit_to_budget([h.text for h in hits], spec.context_tokens).passages
        return memo[text]

    return passages


def train_adapter(task: Task, context: RungContext, name: str,
                  rows: list[tuple[tuple[Message, ...], str]]) -> tuple[Path, dict[str, Any]]:
    """Train (or reuse, or resume) the adapter for these rows; export it as GGUF. Returns (path, meta)."""
    from rungwise.finetune.export_gguf import export_lora_gguf
    from rungwise.finetune.train import LoraConfig, TrainingExample, TrainingJob, TrainingResult
    from rungwise.models.embedded import embedded_gguf_path, file_digest

    spec = task.spec.finetune
    config = LoraConfig(r=spec.r, alpha=spec.alpha, lr=spec.lr, epochs=spec.epochs, batch_size=spec.batch_size,
                        max_minutes=spec.max_minutes, seed=task.spec.eval.seed)
    examples = [TrainingExample(messages=msgs, target=target) for msgs, target in rows]
    base = embedded_gguf_path()
    base_fp = file_digest(base)[:16]
    dhash = data_hash(rows)
    key = hashlib.sha256(json.dumps([base_fp, dhash, config.run_fingerprint()], sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(context.cache_dir or ".") / "adapters" / f"{task.name}-{name}-{key}"
    gguf = folder / "adapter.gguf"
    result_file = folder / "result.json"
    progress: TrainProgress | None = context.resources.get("progress")
    if gguf.is_file() and result_file.is_file():
        result = TrainingResult.from_json(result_file.read_text())
    else:
        def on_progress(p: Any) -> None:
            if progress is not None and p is not None:
                progress(f"{name}: training", p.step, p.total_steps)

        job = TrainingJob(examples, folder / "train", config, on_progress=on_progress)
        result = job.run()
        export_lora_gguf(result.adapter_dir, gguf, gguf_path=base)
        result_file.write_text(result.to_json())
    meta = {
        "base_model": f"embedded:{base_fp}", "data_hash": dhash, "config": config.run_fingerprint(),
        "train_seconds": result.train_seconds, "trained_tokens": result.trained_tokens,
        "tokens_per_s": result.tokens_per_s, "examples": result.examples_used, "steps": result.steps,
        "train_loss": result.train_loss, "val_loss": result.val_loss, "stop_reason": result.stop_reason,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(gguf.stat().st_mtime)),
    }
    return gguf, meta


def is_stale(meta: dict[str, Any], base_fingerprint: str) -> bool:
    """An adapter trained on another base model than the one served now must be retrained."""
    return str(meta.get("base_model")) != base_fingerprint


def export_training_files(task: Task, out_dir: Path, *, max_examples: int | None = None) -> dict[str, Path]:
    """Write the finetune rung's training rows (short prompt, leaked rows removed) for fine-tuning elsewhere:
    OpenAI chat fine-tuning JSONL and prompt/completion JSONL (TRL, axolotl)."""
    from rungwise.finetune.dataset import TrainingExample
    from rungwise.finetune.hosted import write_openai_jsonl, write_prompt_completion_jsonl

    if not task.train:
        from rungwise.errors import TaskError

        raise TaskError(f"{task.folder}: no train.jsonl to export.")
    eval_inputs = {fold(ex.input) for ex in task.eval}
    rows = [ex for ex in task.train if fold(ex.input) not in eval_inputs][: max_examples or None]
    examples = [TrainingExample(messages=short_messages(task, ex.input), target=ex.target) for ex in rows]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"openai": out_dir / f"{task.name}.openai-chat.jsonl", "prompt_completion": out_dir / f"{task.name}.prompt-completion.jsonl"}
    write_openai_jsonl(examples, paths["openai"])
    write_prompt_completion_jsonl(examples, paths["prompt_completion"])
    return paths
