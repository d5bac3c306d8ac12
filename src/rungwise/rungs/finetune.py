"""The finetune rung: a LoRA trained on train with the *short* prompt (the team's own instruction: no label
list, no examples), served by the backend's Tuner (for the embedded model: exported as a GGUF LoRA and served by
llama.cpp on top of the same Q4_1 base).

For a task with a corpus it also trains and evaluates an adapter that sees the retrieved passages: knowledge
from retrieval, behaviour (a short span instead of a sentence) from the weights.

The adapter is an artifact of the run: its training config, the hash of its data and the fingerprint of its
base model travel with it, so a later run can tell an adapter trained on another base model (stale).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rungwise.errors import MissingExtra, RungwiseError
from rungwise.finetune.dataset import data_hash
from rungwise.finetune.hosted_jobs import HostedJobError
from rungwise.finetune.trl_job import TrainingFailed
from rungwise.models.adapter_serving import AdapterServingError
from rungwise.models.base import Message, Request, Tuner
from rungwise.models.open_weights_tuner import OpenWeightsTuner
from rungwise.retrieval.shared import hybrid_passages, user_with_context
from rungwise.rungs.base import Rung, RungContext, RungSkipped, Variant, register
from rungwise.rungs.constrained import with_constrained_twin
from rungwise.task.data import Example, fold
from rungwise.task.spec import Task

__all__ = ["FinetuneRung", "data_hash", "export_training_files", "is_stale", "short_messages", "train_pool"]


def short_messages(task: Task, text: str) -> tuple[Message, ...]:
    """The short prompt: the team's instruction and the input, nothing else (the baseline's messages)."""
    return (Message("user", f"{task.spec.instruction.strip()}\n\n{text}"),)


def rag_messages(task: Task, passages: list[str], text: str) -> tuple[Message, ...]:
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


@register
class FinetuneRung(Rung):
    name = "finetune"
    order = 40
    kind = "training"
    summary = "a LoRA trained on train, evaluated with the short prompt (plus retrieval where there is a corpus)"

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        if not task.train:
            raise RungSkipped("no train.jsonl: a fine-tune needs training rows")
        if context.dry_run:
            raise RungSkipped("a dry run trains nothing; the finetune rung's cost is measured when it runs")
        tuner = (_hosted_tuner(task, context) if task.spec.finetune.hosted
                 else _open_weights_tuner(task, context) or context.model.tuner())
        if tuner is None and task.spec.finetune.hosted:
            raise RungSkipped(f"[finetune] hosted needs an OpenAI-compatible endpoint with fine-tuning jobs "
                              f"(--model URL); {context.model.name} is not one (set hosted = false to train its "
                              "own LoRA where it can)")
        if tuner is None:
            raise RungSkipped(
                f"{context.model.name} cannot be fine-tuned here: give its Hugging Face folder with --base-weights "
                "DIR (or [finetune] base_weights) to train a LoRA with TRL and serve it on the same server, set "
                "[finetune] hosted = true when the endpoint runs fine-tuning jobs, or export the training set with "
                "`rungwise export-finetune TASK`"
            )
        if not task.spec.finetune.hosted:
            try:
                import peft  # noqa: F401
                import torch  # noqa: F401
                if isinstance(tuner, OpenWeightsTuner):
                    import trl  # noqa: F401
            except ImportError as e:
                raise RungSkipped(str(MissingExtra(e.name or "torch, peft and trl", "finetune"))) from None
        try:
            return self._all(task, context, tuner)
        except (HostedJobError, TrainingFailed, AdapterServingError) as e:  # one line; the climb goes on
            raise RungSkipped(str(e)) from None

    def _all(self, task: Task, context: RungContext, tuner: Tuner) -> list[Variant]:
        pool = train_pool(task)
        rows = [(short_messages(task, ex.input), ex.target) for ex in pool]
        variants = self._variants(task, context, tuner, "finetune", rows,
                                  lambda ex: short_messages(task, ex.input), retrieval=False)
        if context.curve or task.spec.finetune.curve:
            variants += self._curve(task, context, tuner, rows, variants[0])
        if task.corpus_path is not None and task.spec.finetune.with_rag:
            index = context.resources.corpus_cache().index(task, context.cache_dir, context.resources.get_embedder())
            passages = hybrid_passages(task, index)
            rows = [(rag_messages(task, passages(ex.input), ex.input), ex.target) for ex in pool]
            variants += self._variants(task, context, tuner, "finetune-rag", rows,
                                       lambda ex: rag_messages(task, passages(ex.input), ex.input), retrieval=True)
        return variants

    def _curve(self, task: Task, context: RungContext, tuner: Tuner, rows: list[tuple[tuple[Message, ...], str]],
               full: Variant) -> list[Variant]:
        """The short-prompt fine-tune trained on fewer rows: the points of its learning curve (purpose `curve`).
        Each size trains on the first rows of the trainer's one seeded shuffle (`max_examples`), so each is a
        subset of the next and the validation rows carved before them are the same at every size."""
        from rungwise.judge.curves import curve_sizes

        trained = int(full.artifacts[0][3].get("examples") or len(rows)) if full.artifacts else len(rows)
        budget = context.budget
        out: list[Variant] = []
        for n in curve_sizes(task.spec.finetune.curve, trained):
            name = f"finetune@{n}"
            config = lora_config(task).model_copy(update={"max_examples": n})
            folder = Path(context.cache_dir or ".") / "adapters" / f"{task.file_stem}-{name}"
            adapter, meta = tuner.train(rows, config, folder, progress=context.progress, cancel=context.cancel)

            def build(ex: Example) -> Request:
                return Request(short_messages(task, ex.input), max_tokens=budget.max_tokens, stop=budget.stop)

            out.append(Variant(name, self.name, build, model=tuner.serve(adapter), purpose="curve",
                               config={"curve": "finetune", "rows": n, "adapter": {"path": str(adapter), **meta}},
                               artifacts=[(name, _kind(meta), str(adapter), meta)]))
        return out

    def _variants(self, task: Task, context: RungContext, tuner: Tuner, name: str,
                  rows: list[tuple[tuple[Message, ...], str]], messages: Callable[[Example], tuple[Message, ...]],
                  *, retrieval: bool) -> list[Variant]:
        """The tuned model with the short prompt; for label and JSON tasks also with its output constrained
        (a tuned small model learns the labels' style before it learns the label set itself)."""
        config = lora_config(task)
        folder = Path(context.cache_dir or ".") / "adapters" / f"{task.file_stem}-{name}"
        adapter, meta = tuner.train(rows, config, folder, progress=context.progress, cancel=context.cancel)
        model = tuner.serve(adapter)  # a variant's own model: the climb opens it and closes it
        budget = context.budget

        def build(ex: Example) -> Request:
            return Request(messages(ex), max_tokens=budget.max_tokens, stop=budget.stop)

        variant = Variant(name, self.name, build, model=model, retrieval=retrieval,
                          config={"adapter": {"path": str(adapter), **meta}},
                          artifacts=[(name, _kind(meta), str(adapter), meta)])
        # the same adapter (one artifact), the output constrained
        return with_constrained_twin(variant, task, context.info, budget)


def _kind(meta: dict[str, Any]) -> str:
    """An adapter's artifact kind: a GGUF LoRA (the embedded model), a peft LoRA (a team's model, served by its
    server), or a hosted job's fine-tuned model."""
    return "hosted-fine-tune" if meta.get("hosted") else "lora-peft" if meta.get("trainer") == "trl" else "lora-gguf"


def _open_weights_tuner(task: Task, context: RungContext) -> Tuner | None:
    """TRL on the team's weights ([finetune] base_weights, --base-weights) for a model at a URL; None otherwise."""
    from rungwise.models.embedded import EmbeddedModel
    from rungwise.models.openai_http import OpenAIHttpModel

    spec, model = task.spec.finetune, context.model
    if not spec.base_weights or not isinstance(model, OpenAIHttpModel) or isinstance(model, EmbeddedModel):
        return None

    def path(p: str | None) -> Path | None:
        return None if p is None else (task.folder / Path(p).expanduser()).resolve()

    try:
        return OpenWeightsTuner(model, path(spec.base_weights) or Path(), launcher=spec.launcher,
                                accelerate_config=path(spec.accelerate_config), base_gguf=path(spec.base_gguf),
                                server_adapters_dir=spec.server_adapters_dir)
    except RungwiseError as e:
        raise RungSkipped(str(e)) from None


def _hosted_tuner(task: Task, context: RungContext) -> Tuner | None:
    """The endpoint's hosted fine-tuning jobs ([finetune] hosted), for an OpenAI-compatible model; None otherwise."""
    from rungwise.models.embedded import EmbeddedModel
    from rungwise.models.hosted_tuner import HostedTuner
    from rungwise.models.openai_http import OpenAIHttpModel

    model = context.model
    if not isinstance(model, OpenAIHttpModel) or isinstance(model, EmbeddedModel):
        return None
    spec = task.spec.finetune
    return HostedTuner(model, cancel_remote=context.cancel_remote, poll_s=spec.hosted_poll_s,
                       queued_deadline_s=spec.hosted_queued_minutes * 60)


def lora_config(task: Task) -> Any:
    """The LoRA settings of the task's [finetune] section (a `LoraConfig`; imported only when training)."""
    from rungwise.finetune.train import LoraConfig

    spec = task.spec.finetune
    return LoraConfig(r=spec.r, alpha=spec.alpha, lr=spec.lr, epochs=spec.epochs, batch_size=spec.batch_size,
                      max_minutes=spec.max_minutes, seed=task.spec.eval.seed)


def is_stale(meta: dict[str, Any], base_fingerprint: str) -> bool:
    """An adapter trained on another base model than the one served now must be retrained."""
    return str(meta.get("base_model")) != base_fingerprint


def export_training_files(task: Task, out_dir: Path, *, max_examples: int | None = None) -> dict[str, Path]:
    """Write the finetune rung's training rows (short prompt, leaked rows removed) for fine-tuning elsewhere:
    OpenAI chat JSONL and prompt/completion JSONL (TRL, axolotl)."""
    from rungwise.finetune.dataset import TrainingExample
    from rungwise.finetune.hosted import write_openai_jsonl, write_prompt_completion_jsonl

    if not task.train:
        from rungwise.errors import TaskError

        raise TaskError(f"{task.folder}: no train.jsonl to export.")
    eval_inputs = {fold(ex.input) for ex in task.eval}
    rows = [ex for ex in task.train if fold(ex.input) not in eval_inputs][: max_examples or None]
    examples = [TrainingExample(messages=short_messages(task, ex.input), target=ex.target) for ex in rows]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"openai": out_dir / f"{task.file_stem}.openai-chat.jsonl",
             "prompt_completion": out_dir / f"{task.file_stem}.prompt-completion.jsonl"}
    write_openai_jsonl(examples, paths["openai"])
    write_prompt_completion_jsonl(examples, paths["prompt_completion"])
    return paths
