"""The Tuner the embedded model offers: a LoRA trained with transformers + peft on the GGUF base, exported as
a GGUF LoRA and served by llama.cpp on top of the same base.

An adapter lives in a folder keyed by its base weights, its data and its settings: the same rows and settings
reuse it, an interrupted training resumes from its checkpoint, and a cancelled one stops after its current step.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rungwise.cancel import CancelToken
from rungwise.errors import ClimbCancelled
from rungwise.finetune.dataset import Rows, data_hash
from rungwise.finetune.trl_job import STOPPED_WHY
from rungwise.paths import file_digest
from rungwise.progress import ProgressSink, report

if TYPE_CHECKING:
    from rungwise.finetune.train import LoraConfig
    from rungwise.models.base import Model



class EmbeddedTuner:
    """Trains LoRA adapters for the embedded GGUF model at `gguf_path`, and serves them on `serve_gguf` (the same
    weights in the format the embedded server runs; `gguf_path` itself when not given) through `serve`, the
    embedded model's own factory (so this module needs no import of the model that made it)."""

    def __init__(self, gguf_path: Path, serve_gguf: Path | None = None, *,
                 serve: Callable[[Path], Model] | None = None) -> None:
        self._serve = serve
        self.gguf_path = gguf_path
        self.serve_gguf = serve_gguf or gguf_path
        # the base an adapter is recorded against is the model that serves it (what a climb's fingerprint names);
        # the training itself depends only on the weights it starts from
        self.base_fingerprint = f"embedded:{file_digest(self.serve_gguf)[:16]}"
        self._train_digest = file_digest(gguf_path)[:16]

    def train(self, rows: Rows, config: LoraConfig, folder: Path, *, progress: ProgressSink | None = None,
              cancel: CancelToken | None = None) -> tuple[Path, dict[str, Any]]:
        from rungwise.finetune.export_gguf import export_lora_gguf
        from rungwise.finetune.train import TrainingExample, TrainingJob, TrainingResult

        dhash = data_hash(rows)
        key = hashlib.sha256(json.dumps([self._train_digest, dhash,
                                         config.run_fingerprint()], sort_keys=True).encode()).hexdigest()[:16]
        folder = folder.with_name(f"{folder.name}-{key}")
        gguf = folder / "adapter.gguf"
        result_file = folder / "result.json"
        if gguf.is_file() and result_file.is_file():
            result = TrainingResult.from_json(result_file.read_text())
        else:
            name = folder.name.rsplit("-", 1)[0]

            def on_progress(p: Any) -> None:
                if p is not None:
                    report(progress, "training", name, p.step, p.total_steps)

            examples = [TrainingExample(messages=msgs, target=target) for msgs, target in rows]
            job = TrainingJob(examples, folder / "train", config, on_progress=on_progress)
            remove = cancel.on_cancel(job.cancel) if cancel is not None else (lambda: None)
            try:
                result = job.run()
            finally:
                remove()
            if result.stop_reason == "cancelled":
                raise ClimbCancelled("The climb was cancelled during training. The training checkpoint and every "
                                     "finished result are stored; run the same climb again to resume.")
            why = STOPPED_WHY.get(result.stop_reason)
            if why and result.steps < result.total_steps:  # its progress ends here, before its last step
                report(progress, "training", name, result.steps, result.total_steps, stopped=why)
            export_lora_gguf(result.adapter_dir, gguf, gguf_path=self.gguf_path)
            result_file.write_text(result.to_json())
        meta = {
            "base_model": self.base_fingerprint, "data_hash": dhash, "config": config.run_fingerprint(),
            "train_seconds": result.train_seconds, "trained_tokens": result.trained_tokens,
            "tokens_per_s": result.tokens_per_s, "examples": result.examples_used, "steps": result.steps,
            "train_loss": result.train_loss, "val_loss": result.val_loss, "stop_reason": result.stop_reason,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(gguf.stat().st_mtime)),
            "adapter_sha256": file_digest(gguf)[:16],
        }
        return gguf, meta

    def serve(self, adapter: Path) -> Model:
        if self._serve is None:
            raise RuntimeError("This EmbeddedTuner was made without a way to serve adapters; get one from "
                               "EmbeddedModel.tuner().")
        return self._serve(adapter)
