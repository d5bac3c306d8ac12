"""LoRA fine-tuning of the embedded model with transformers + peft: a job you can poll, cancel and resume.

    job = TrainingJob(examples, out_dir, LoraConfig(epochs=1), on_progress=print)
    result = job.run()            # blocks; job.cancel() from another thread stops it at the next step
    result.adapter_dir            # a peft adapter; export_gguf.export_lora_gguf() makes it llama.cpp's

What it does, and why:
- the prompt is rendered with the model's chat template exactly as llama.cpp's server renders it, and
  only the answer tokens (and the end-of-turn token) carry loss (see `dataset.py`);
- rows of similar length share a batch, so padding never exceeds a batch's longest row; padding is on the
  right, where a causal model never attends to it, so no attention mask is needed;
- the prompt prefix the rows of a batch share (system prompt, instruction) runs once per batch, and the
  output projection (49k-token vocabulary) only at the positions that carry loss;
- a seeded validation split, carved from the training rows, drives early stopping, and the adapter kept
  is the one with the best validation loss;
- a checkpoint every `checkpoint_every` steps; a second run with the same `out_dir` and the same rows
  and settings continues from it (a finished run just returns its result);
- `max_minutes` caps the training wall time, summed over resumed runs.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rungwise.errors import MissingExtra, RungwiseError
from rungwise.finetune import checkpoint as ckpt
from rungwise.finetune.base_model import BaseModelSource, load_base_model, load_tokenizer, quiet_peft_warnings
from rungwise.finetune.dataset import (
    IGNORE_INDEX,
    Batch,
    EncodedExample,
    TrainingExample,
    collate,
    encode_example,
    length_grouped_batches,
    split_train_val,
)
from rungwise.finetune.threads import ThreadTuner, cpu_threads

if TYPE_CHECKING:  # pragma: no cover
    import torch

ADAPTER_DIR = "adapter"
RESULT_FILE = "result.json"
#: how many recent steps the reported training loss averages over
LOSS_WINDOW = 20

StopReason = Literal["completed", "early_stopping", "budget", "cancelled"]


class LoraConfig(BaseModel):
    """How to fine-tune: the adapter's shape, the optimiser, the data and the budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: float = Field(32.0, gt=0, description="LoRA alpha; the update is scaled by alpha / r.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA branch.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt, or every linear layer except the output head."
    )
    lr: float = Field(5e-4, gt=0, description="Peak learning rate (AdamW), after a short linear warm-up, decayed linearly.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    epochs: int = Field(1, ge=1, description="Passes over the training rows.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimiser steps (overrides epochs).")
    batch_size: int = Field(8, ge=1, description="Rows per optimiser step.")
    max_examples: int | None = Field(None, ge=1, description="Train on at most this many rows (a seeded sample).")
    max_length: int = Field(1024, ge=8, description="Rows longer than this many tokens are skipped.")
    max_minutes: float | None = Field(None, gt=0, description="Stop training after this much wall time (summed over resumes).")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="Share of the training rows held out for validation.")
    max_val_examples: int = Field(100, ge=0, description="At most this many validation rows.")
    eval_every: int | None = Field(None, ge=1, description="Steps between validation passes; None: four per epoch.")
    patience: int | None = Field(3, ge=1, description="Stop after this many validation passes without improvement; None: never.")
    checkpoint_every: int = Field(50, ge=1, description="Steps between checkpoints.")
    seed: int = Field(0, description="Seeds the split, the batch order, the adapter's initialisation and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: a GPU when torch sees one.")
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads for torch; None: every core this process may use, or fewer when fewer are "
        "measured faster (on a busy machine threads wait on each other; see threads.py).",
    )

    def run_fingerprint(self) -> dict[str, Any]:
        """The settings a resumed run must share with the run it continues (the budget may change)."""
        return self.model_dump(exclude={"max_minutes", "checkpoint_every", "device", "threads"})


@dataclass(frozen=True)
class Progress:
    """A snapshot after one optimiser step, for progress bars."""

    step: int
    total_steps: int
    loss: float
    val_loss: float | None
    elapsed_s: float
    eta_s: float
    trained_tokens: int
    tokens_per_s: float


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced and what it cost."""

    adapter_dir: Path
    train_seconds: float
    trained_tokens: int  # real (non-padding) tokens through forward and backward
    target_tokens: int  # of which carried loss (answer + end-of-turn)
    tokens_per_s: float
    train_loss: float | None
    val_loss: float | None
    steps: int
    total_steps: int
    examples_used: int
    val_examples: int
    examples_skipped: int  # longer than max_length
    stop_reason: StopReason
    device: str
    threads: int = 0  # CPU threads torch trained with at the end (0 on a GPU)

    def to_json(self) -> str:
        d = asdict(self)
        d["adapter_dir"] = str(self.adapter_dir)
        return json.dumps(d, indent=1)

    @classmethod
    def from_json(cls, text: str) -> TrainingResult:
        d = json.loads(text)
        d["adapter_dir"] = Path(d["adapter_dir"])
        return cls(**d)


ProgressCallback = Callable[[Progress], None]


class TrainingJob:
    """One LoRA training run into `out_dir`. `run()` blocks; `cancel()` and `progress` are thread-safe."""

    def __init__(
        self,
        examples: Sequence[TrainingExample],
        out_dir: Path | str,
        config: LoraConfig | None = None,
        *,
        gguf_path: Path | None = None,
        cache_dir: Path | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.examples = list(examples)
        self.out_dir = Path(out_dir)
        self.config = config or LoraConfig()
        self.gguf_path = gguf_path
        self.cache_dir = cache_dir
        self.on_progress = on_progress
        self.status: Literal["pending", "running", "done", "cancelled", "failed"] = "pending"
        self._cancel = threading.Event()
        self._progress: Progress | None = None

    # -- control ----------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the run to stop after the current step; it saves a checkpoint and returns a result."""
        self._cancel.set()

    @property
    def progress(self) -> Progress | None:
        return self._progress

    def fingerprint(self) -> str:
        src = BaseModelSource.resolve(self.gguf_path, self.cache_dir)
        blob = json.dumps(
            {
                "base": src.hf_dir.name,
                "config": self.config.run_fingerprint(),
                "rows": [[e.chat(), e.target] for e in self.examples],
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> TrainingResult:
        self.status = "running"
        torch = _import_torch()
        threads_before = torch.get_num_threads()
        try:
            result = self._run()
        except BaseException:
            self.status = "failed"
            raise
        finally:
            torch.set_num_threads(threads_before)  # a process-wide setting: leave it as found
        self.status = "cancelled" if result.stop_reason == "cancelled" else "done"
        return result

    def _run(self) -> TrainingResult:
        torch = _import_torch()
        cfg = self.config
        if not self.examples:
            raise RungwiseError("No training rows: fine-tuning needs at least one row in train.")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fingerprint = self.fingerprint()
        state = ckpt.load_state(self.out_dir)
        if state is not None and state.fingerprint != fingerprint:
            raise RungwiseError(
                f"{self.out_dir} holds a checkpoint of another training run (other rows or settings). "
                "Choose another output folder, or delete this one to start over."
            )
        if state is not None and state.done and (self.out_dir / RESULT_FILE).is_file():
            return TrainingResult.from_json((self.out_dir / RESULT_FILE).read_text(encoding="utf-8"))

        device = _pick_device(torch, cfg.device)
        tuner: ThreadTuner | None = None
        if device == "cpu":
            if cfg.threads is None:
                tuner = ThreadTuner(cpu_threads())
            torch.set_num_threads(cfg.threads or cpu_threads())
        torch.manual_seed(cfg.seed)

        tokenizer = load_tokenizer(self.gguf_path, self.cache_dir)
        train_rows, val_rows = split_train_val(
            self.examples,
            val_fraction=cfg.val_fraction,
            max_val=cfg.max_val_examples,
            max_train=cfg.max_examples,
            seed=cfg.seed,
        )
        train = [e for e in (encode_example(tokenizer, x) for x in train_rows) if len(e) <= cfg.max_length]
        val = [e for e in (encode_example(tokenizer, x) for x in val_rows) if len(e) <= cfg.max_length]
        skipped = len(train_rows) + len(val_rows) - len(train) - len(val)
        if not train:
            raise RungwiseError(f"Every training row is longer than max_length={cfg.max_length} tokens.")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        total_steps = cfg.max_steps or steps_per_epoch * cfg.epochs
        eval_every = cfg.eval_every or max(1, steps_per_epoch // 4)
        warmup = max(1, round(0.05 * total_steps))

        model = _peft_model(load_base_model(self.gguf_path, self.cache_dir), cfg).to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        best: dict[str, Any] | None = None
        if state is None:
            state = ckpt.RunState(fingerprint=fingerprint, total_steps=total_steps)
        else:
            from peft import set_peft_model_state_dict

            lora, best, extra = ckpt.load_tensors(self.out_dir)
            set_peft_model_state_dict(model, lora)
            optimizer.load_state_dict(extra["optimizer"])
            torch.set_rng_state(extra["rng"])

        causal_lm = model.base_model.model  # the transformers model with LoRA layers inside
        autocast = _autocast(torch, device)
        epoch_batches: dict[int, list[list[int]]] = {}
        run_start = time.perf_counter()
        seconds_before = state.train_seconds
        steps_before = state.step
        lengths = [len(e) for e in train]

        def checkpoint() -> None:
            from peft import get_peft_model_state_dict

            state.train_seconds = seconds_before + time.perf_counter() - run_start
            ckpt.save_checkpoint(
                self.out_dir,
                state,
                lora=get_peft_model_state_dict(model),
                best=best,
                optimizer=optimizer.state_dict(),
                rng=torch.get_rng_state(),
            )

        stop: StopReason | None = None
        while state.step < total_steps:
            elapsed = seconds_before + time.perf_counter() - run_start
            if cfg.max_minutes is not None and elapsed >= cfg.max_minutes * 60:
                stop = "budget"
                break
            if self._cancel.is_set():
                stop = "cancelled"
                break
            epoch, index = divmod(state.step, steps_per_epoch)
            if epoch not in epoch_batches:
                epoch_batches = {epoch: length_grouped_batches(lengths, cfg.batch_size, seed=cfg.seed * 100_003 + epoch)}
            batch = collate([train[i] for i in epoch_batches[epoch][index]], pad_id)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * _lr_factor(state.step, warmup, total_steps)
            k = state.step - steps_before
            if tuner is not None and tuner.threads_for(k) != torch.get_num_threads():
                torch.set_num_threads(tuner.threads_for(k))
            step_start = time.perf_counter()
            model.train()
            with autocast:
                loss = _answer_loss(torch, causal_lm, batch, device)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if tuner is not None:
                tuner.record(k, batch.n_tokens, time.perf_counter() - step_start)

            state.step += 1
            state.trained_tokens += batch.n_tokens
            state.target_tokens += batch.n_target
            state.recent_losses = [*state.recent_losses, (float(loss.item()), batch.n_target)][-LOSS_WINDOW:]

            if val and (state.step % eval_every == 0 or state.step == total_steps):
                state.val_loss = _validation_loss(torch, causal_lm, model, val, cfg.batch_size, pad_id, device, autocast)
                if state.best_val_loss is None or state.val_loss < state.best_val_loss:
                    state.best_val_loss, state.best_step = state.val_loss, state.step
                    state.evals_without_improvement = 0
                    best = _lora_copy(model)
                else:
                    state.evals_without_improvement += 1
                    if cfg.patience is not None and state.evals_without_improvement >= cfg.patience:
                        stop = "early_stopping"
            if state.step % cfg.checkpoint_every == 0 and state.step < total_steps and stop is None:
                checkpoint()
            now = time.perf_counter() - run_start
            self._report(state, seconds_before + now, state.step - steps_before, now)
            if stop is not None:
                break

        state.stop_reason = stop or "completed"
        # a run stopped by the budget or a cancel continues when called again (with more budget)
        state.done = state.stop_reason in ("completed", "early_stopping")
        checkpoint()  # the latest weights and optimizer: what a resumed run continues from
        if best is not None:
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(model, best)  # keep the adapter with the best validation loss
        adapter_dir = self._save_adapter(model)
        result = TrainingResult(
            adapter_dir=adapter_dir,
            train_seconds=state.train_seconds,
            trained_tokens=state.trained_tokens,
            target_tokens=state.target_tokens,
            tokens_per_s=state.trained_tokens / state.train_seconds if state.train_seconds > 0 else 0.0,
            train_loss=_recent_loss(state),
            val_loss=state.best_val_loss,
            steps=state.step,
            total_steps=total_steps,
            examples_used=len(train),
            val_examples=len(val),
            examples_skipped=skipped,
            stop_reason=_stop_reason(state.stop_reason),
            device=device,
            threads=torch.get_num_threads() if device == "cpu" else 0,
        )
        (self.out_dir / RESULT_FILE).write_text(result.to_json(), encoding="utf-8")
        return result

    def _save_adapter(self, model: Any) -> Path:
        final = self.out_dir / ADAPTER_DIR
        tmp = self.out_dir / (ADAPTER_DIR + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return final

    def _report(self, state: ckpt.RunState, elapsed: float, steps_this_run: int, seconds_this_run: float) -> None:
        per_step = seconds_this_run / max(1, steps_this_run)
        eta = per_step * (state.total_steps - state.step)
        if self.config.max_minutes is not None:
            eta = min(eta, max(0.0, self.config.max_minutes * 60 - elapsed))
        self._progress = Progress(
            step=state.step,
            total_steps=state.total_steps,
            loss=_recent_loss(state) or 0.0,
            val_loss=state.val_loss,
            elapsed_s=elapsed,
            eta_s=eta,
            trained_tokens=state.trained_tokens,
            tokens_per_s=state.trained_tokens / elapsed if elapsed > 0 else 0.0,
        )
        if self.on_progress is not None:
            self.on_progress(self._progress)


def train_lora(
    examples: Sequence[TrainingExample],
    out_dir: Path | str,
    config: LoraConfig | None = None,
    *,
    on_progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Train a LoRA adapter on `examples` into `out_dir` (resuming a run found there); see `TrainingJob`."""
    return TrainingJob(examples, out_dir, config, on_progress=on_progress).run()


# -- pieces of the loop ---------------------------------------------------------------------------
def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingExtra("torch", "finetune") from None
    try:
        import peft  # noqa: F401
    except ImportError:
        raise MissingExtra("peft", "finetune") from None
    return torch


def _pick_device(torch: Any, wanted: str) -> str:
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RungwiseError("device='cuda' was asked for, but torch sees no GPU. Use device='auto' or 'cpu'.")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def _autocast(torch: Any, device: str) -> Any:
    """bf16 autocast on a GPU that supports it; plain fp32 on the CPU (bf16 there learned worse, for ~10%)."""
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device, enabled=False)


def _peft_model(base: Any, cfg: LoraConfig) -> Any:
    import peft

    lora = peft.LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,  # type: ignore[arg-type]  # peft annotates int, takes any number
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with quiet_peft_warnings():
        return peft.get_peft_model(base, lora)


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def _answer_loss(torch: Any, causal_lm: Any, batch: Batch, device: str) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens of the batch.

    - The prompt prefix that every row shares (system prompt, instruction) runs once, for one row, and
      its keys and values are repeated for the others: the same loss and gradients, less compute
      (about a third less on banking77's short prompt).
    - No attention mask: padding is on the right, after every real token, so the causal mask hides it.
    - The output head (49k-token vocabulary) runs only where the next token is an answer token.
    """
    ids = batch.input_ids.to(device)
    labels = batch.labels.to(device)
    body = causal_lm.model
    p = batch.shared_prefix
    if p:
        arg = _cache_argument(body)
        out = body(input_ids=ids[:1, :p], use_cache=True)
        cache = getattr(out, arg)
        cache.batch_repeat_interleave(ids.shape[0])
        hidden = body(input_ids=ids[:, p:], use_cache=True, **{arg: cache}).last_hidden_state
    else:
        hidden = body(input_ids=ids, use_cache=False).last_hidden_state
    next_labels = labels[:, p + 1 :]
    keep = next_labels != IGNORE_INDEX
    logits = causal_lm.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), next_labels[keep], reduction="mean")


def _cache_argument(body: Any) -> str:
    """What the model body calls its KV cache: `cache` (transformers 5.x) or `past_key_values` (before)."""
    return "cache" if "cache" in inspect.signature(body.forward).parameters else "past_key_values"


def _validation_loss(
    torch: Any,
    causal_lm: Any,
    model: Any,
    rows: list[EncodedExample],
    batch_size: int,
    pad_id: int,
    device: str,
    autocast: Any,
) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), autocast:
        for idx in length_grouped_batches([len(r) for r in rows], batch_size, seed=0):
            batch = collate([rows[i] for i in idx], pad_id)
            total += float(_answer_loss(torch, causal_lm, batch, device).item()) * batch.n_target
            count += batch.n_target
    return total / max(1, count)


def _lora_copy(model: Any) -> dict[str, Any]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone().cpu() for k, v in get_peft_model_state_dict(model).items()}


def _recent_loss(state: ckpt.RunState) -> float | None:
    n = sum(w for _, w in state.recent_losses)
    if n == 0:
        return None
    return sum(loss * w for loss, w in state.recent_losses) / n


def _stop_reason(value: str | None) -> StopReason:
    if value in ("completed", "early_stopping", "budget", "cancelled"):
        return value  # type: ignore[return-value]
    return "completed"
