"""The Tuner of a team's own open-weight model: a LoRA trained with TRL on the model's Hugging Face folder
(`[finetune] base_weights` or `--base-weights`), on this machine's CPU or GPU or under `accelerate launch`, then
served by the server the team runs the model on (vLLM, SGLang, llama.cpp, Ollama: `adapter_serving`).

An adapter lives in a folder keyed by the base weights, the data and the settings: the same rows and settings
reuse it, an interrupted training resumes from its last checkpoint, and a cancelled one stops after its step.
The training's price is its wall time at `[costs] machine_price_per_hour` times the processes it ran on.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

from rungwise.cancel import CancelToken
from rungwise.errors import RungwiseError
from rungwise.finetune.dataset import Rows, data_hash
from rungwise.finetune.trl_job import Launcher, TrlJob, run_trl
from rungwise.models.adapter_serving import serve_adapter
from rungwise.models.base import Model
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.paths import file_digest
from rungwise.progress import ProgressSink


def weights_digest(base_dir: Path) -> str:
    """The base weights' identity, read fast: the digest of each small file (configs, tokenizer, index) and the
    name and size of each weights file (hashing many GB on every climb would cost minutes)."""
    if not (base_dir / "config.json").is_file():
        raise RungwiseError(f"{base_dir}: not a Hugging Face model folder (no config.json). Point [finetune] "
                            "base_weights (or --base-weights) at the folder holding the model's config.json and "
                            "weights.")
    parts = []
    for path in sorted(p for p in base_dir.iterdir() if p.is_file()):
        size = path.stat().st_size
        parts.append([path.name, size, file_digest(path)[:16] if size < 50_000_000 else None])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


class OpenWeightsTuner:
    """LoRA adapters for `model` (an OpenAI-compatible endpoint serving the weights in `base_dir`)."""

    def __init__(self, model: OpenAIHttpModel, base_dir: Path, *, launcher: Launcher = "python",
                 accelerate_config: Path | None = None, base_gguf: Path | None = None,
                 server_adapters_dir: str | None = None) -> None:
        self.model = model
        self.base_dir = Path(base_dir)
        self.launcher: Launcher = launcher
        self.accelerate_config = accelerate_config
        self.base_gguf = base_gguf
        self.server_adapters_dir = server_adapters_dir
        self._weights = weights_digest(self.base_dir)
        # an adapter is recorded against the model that serves it (what the climb's fingerprint names)
        self.base_fingerprint = model.info.fingerprint if model._info is not None else model.fingerprint

    def train(self, rows: Rows, config: Any, folder: Path, *, progress: ProgressSink | None = None,
              cancel: CancelToken | None = None) -> tuple[Path, dict[str, Any]]:
        dhash = data_hash(rows)
        settings = config.run_fingerprint()
        key = hashlib.sha256(json.dumps([self._weights, dhash, settings, "trl"], sort_keys=True,
                                        default=str).encode()).hexdigest()[:16]
        folder = folder.with_name(f"{folder.name}-trl-{key}")
        name = folder.name.rsplit("-trl-", 1)[0]
        job = TrlJob.of(rows, config, base_dir=self.base_dir, folder=folder)
        result = run_trl(job, folder, launcher=self.launcher, accelerate_config=self.accelerate_config, name=name,
                         progress=progress, cancel=cancel)
        adapter = folder / "adapter"
        meta = {
            "base_model": self.base_fingerprint, "base_weights": self._weights, "data_hash": dhash, "config": settings,
            "trainer": "trl", "launcher": self.launcher, "train_seconds": result["train_seconds"],
            "trained_tokens": result["trained_tokens"], "tokens_per_s": result["tokens_per_s"],
            "examples": result["examples"], "steps": result["steps"], "train_loss": result["train_loss"],
            "val_loss": result["val_loss"], "stop_reason": result["stop_reason"], "device": result["device"],
            "processes": result.get("processes", 1),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S",
                                        time.localtime((folder / "result.json").stat().st_mtime)),
            "adapter_sha256": file_digest(adapter / "adapter_model.safetensors")[:16],
        }
        return adapter, meta

    def serve(self, adapter: Path) -> Model:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
        # a name every server takes (Ollama's model names refuse "@", which a learning curve's folder carries)
        name = re.sub(r"[^A-Za-z0-9._-]", "-", f"rungwise-{adapter.parent.name}")
        server_path = (f"{self.server_adapters_dir.rstrip('/')}/{adapter.parent.name}/adapter"
                       if self.server_adapters_dir else str(adapter.resolve()))
        return serve_adapter(self.model, adapter, name=name, rank=int(config.get("r", 16)), server_path=server_path,
                             base_gguf=self.base_gguf)
