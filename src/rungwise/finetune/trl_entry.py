"""The training entry point rungwise launches for a team's own model: TRL's `SFTTrainer` with a peft LoRA on a
Hugging Face model folder, run as its own process, alone or under `accelerate launch` (several GPUs or nodes,
DeepSpeed or FSDP: whatever the accelerate config the user names says).

    python -m rungwise.finetune.trl_entry JOB.json
    accelerate launch --config_file CFG -m rungwise.finetune.trl_entry JOB.json

JOB.json is a `trl_job.TrlJob`. The process talks to rungwise through files in the job's folder only:
- `progress.jsonl`: one line per optimiser step (`step`, `total`, `loss`), written by the main process;
- `cancel`: when it appears, the trainer saves a checkpoint after its current step and stops (exit code 3);
- `checkpoints/`: a checkpoint every `checkpoint_steps`; a second launch with the same job resumes from the last;
- `adapter/` and `result.json` (written last): the peft adapter with the best validation loss and what it cost.

The loss is on the answer only (TRL's prompt-completion format with `completion_only_loss`): the prompt is the
rungs' own messages rendered with the model's chat template. The device is the one torch sees (a GPU when there is
one, bf16 where it supports it). Nothing is fetched from a hub.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from rungwise.finetune.trl_job import CANCEL_FILE, PROGRESS_FILE, RESULT_FILE, TrlJob

#: exit code of a run stopped by the `cancel` file (its checkpoint saved)
EXIT_CANCELLED = 3
#: fewer validation rows than this: no validation split (every row trains), no early stopping
MIN_VAL_ROWS = 8


def _rows(job: TrlJob) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The job's rows, seeded-shuffled once (so `max_examples` takes nested subsets), split into train and
    validation the same way at every size."""
    rows = [json.loads(line) for line in Path(job.data).read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(job.seed).shuffle(rows)
    n_val = min(job.max_val_examples, int(len(rows) * job.val_fraction)) if job.patience else 0
    if n_val < MIN_VAL_ROWS:  # a loss on a handful of rows is noise: no early stopping on it
        n_val = 0
    val, train = rows[:n_val], rows[n_val:]
    if job.max_examples is not None:
        train = train[: job.max_examples]
    return train, val


def _callbacks(job: TrlJob, folder: Path, started: float, spent_before: float) -> list[Any]:
    from transformers import TrainerCallback

    progress = folder / PROGRESS_FILE
    cancel = folder / CANCEL_FILE
    spent_file = folder / "spent_s.json"

    class Follow(TrainerCallback):
        """Progress, cancel and the time budget, at every optimiser step."""

        stopped: str | None = None

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            spent = spent_before + time.perf_counter() - started
            if state.is_world_process_zero:
                loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None)
                with progress.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, "total": state.max_steps, "loss": loss}) + "\n")
                spent_file.write_text(json.dumps(spent), encoding="utf-8")
            if cancel.exists():
                Follow.stopped = "cancelled"
                control.should_save = True
                control.should_training_stop = True
            elif job.max_minutes is not None and spent > job.max_minutes * 60:
                Follow.stopped = "budget"
                control.should_training_stop = True
            return control

    return [Follow()]


def run(job: TrlJob, folder: Path) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from peft import LoraConfig as PeftLora
    from transformers import AutoModelForCausalLM, AutoTokenizer, EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    train_rows, val_rows = _rows(job)
    cuda = torch.cuda.is_available()
    bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    tokenizer = AutoTokenizer.from_pretrained(job.base_dir, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(job.base_dir, local_files_only=True,
                                                 dtype=torch.bfloat16 if bf16 else torch.float32)
    steps_per_epoch = max(1, -(-len(train_rows) // job.batch_size))
    total = steps_per_epoch * job.epochs
    eval_every = max(1, total // 4)
    checkpoint_steps = eval_every if val_rows else job.checkpoint_steps
    args = SFTConfig(
        output_dir=str(folder / "checkpoints"), per_device_train_batch_size=job.batch_size,
        per_device_eval_batch_size=job.batch_size, num_train_epochs=job.epochs, learning_rate=job.lr,
        lr_scheduler_type="linear", warmup_steps=min(10, max(1, total // 10)), weight_decay=job.weight_decay,
        completion_only_loss=True, max_length=job.max_length, report_to=[], logging_steps=1, seed=job.seed,
        use_cpu=not cuda, bf16=bf16, dataloader_num_workers=0, save_strategy="steps", save_steps=checkpoint_steps,
        save_total_limit=2, eval_strategy="steps" if val_rows else "no", eval_steps=eval_every,
        load_best_model_at_end=bool(val_rows), metric_for_best_model="eval_loss", greater_is_better=False,
        disable_tqdm=True,
    )
    peft_config = PeftLora(r=job.r, lora_alpha=job.alpha,  # type: ignore[arg-type]  # a float works lora_dropout=job.dropout,
                           target_modules=job.target_modules, task_type="CAUSAL_LM")
    started = time.perf_counter()
    spent_file = folder / "spent_s.json"
    spent_before = float(json.loads(spent_file.read_text())) if spent_file.is_file() else 0.0
    callbacks = _callbacks(job, folder, started, spent_before)
    if val_rows and job.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=job.patience))
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(train_rows),
                         eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    resume = any((folder / "checkpoints").glob("checkpoint-*"))
    out = trainer.train(resume_from_checkpoint=True if resume else None)
    follow = callbacks[0]
    if follow.stopped == "cancelled":
        return EXIT_CANCELLED
    trainer.save_model(str(folder / "adapter"))  # the peft adapter (the best one, with validation rows); every
    if not trainer.is_world_process_zero():      # process takes part (FSDP gathers the weights), the first writes
        return 0
    seconds = spent_before + time.perf_counter() - started
    steps = int(trainer.state.global_step)
    tokens = _trained_tokens(tokenizer, train_rows, job.epochs) * min(1.0, steps / max(1, total))
    val_losses = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    stop = follow.stopped or ("early_stopping" if steps < total else "completed")
    result = {
        "train_seconds": seconds, "trained_tokens": int(tokens), "tokens_per_s": tokens / max(seconds, 1e-9),
        "steps": steps, "total_steps": total, "train_loss": float(out.training_loss),
        "val_loss": min(val_losses) if val_losses else None, "stop_reason": stop,
        "device": "cuda" if cuda else "cpu", "bf16": bf16, "examples": len(train_rows),
        "val_examples": len(val_rows), "processes": int(trainer.args.world_size), "trainer": "trl",
    }
    tmp = folder / (RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
    os.replace(tmp, folder / RESULT_FILE)
    return 0


def _trained_tokens(tokenizer: Any, rows: list[dict[str, Any]], epochs: int) -> int:
    """The rows' tokens (prompt and answer, rendered with the chat template, capped at none) times the epochs."""
    n = 0
    for row in rows:
        ids = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True)
        n += len(ids["input_ids"] if hasattr(ids, "keys") else ids)  # a BatchEncoding in recent transformers
    return n * epochs


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m rungwise.finetune.trl_entry JOB.json", file=sys.stderr)
        return 2
    path = Path(args[0])
    job = TrlJob.model_validate_json(path.read_text(encoding="utf-8"))
    return run(job, path.parent)


if __name__ == "__main__":
    sys.exit(main())
