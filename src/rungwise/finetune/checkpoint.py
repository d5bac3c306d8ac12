"""A training run's checkpoint: LoRA weights, optimizer, RNG and counters, written atomically.

Layout under the run's output folder:

    checkpoint/
      state.json                 counters, losses, the run's fingerprint, whether it finished
      adapter.safetensors        the LoRA weights at `state.step`
      best.safetensors           the LoRA weights with the best validation loss so far (when there is a split)
      optimizer.pt               optimizer state and the torch RNG state
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rungwise.errors import RungwiseError

CHECKPOINT_DIR = "checkpoint"


@dataclass
class RunState:
    """Everything besides tensors that a resumed run needs."""

    fingerprint: str
    step: int = 0
    total_steps: int = 0
    train_seconds: float = 0.0
    trained_tokens: int = 0
    target_tokens: int = 0
    recent_losses: list[tuple[float, int]] = field(default_factory=list)  # (mean loss, target tokens) per step
    val_loss: float | None = None
    best_val_loss: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    stop_reason: str | None = None
    done: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> RunState:
        data = json.loads(text)
        data["recent_losses"] = [tuple(x) for x in data.get("recent_losses", [])]
        return cls(**data)


def load_state(out_dir: Path) -> RunState | None:
    path = out_dir / CHECKPOINT_DIR / "state.json"
    if not path.is_file():
        return None
    try:
        return RunState.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as exc:
        raise RungwiseError(f"{path}: unreadable training checkpoint ({exc}). Delete {out_dir} to start over.") from None


def save_checkpoint(
    out_dir: Path,
    state: RunState,
    *,
    lora: dict[str, Any],
    best: dict[str, Any] | None,
    optimizer: dict[str, Any],
    rng: Any,
) -> None:
    """Write the checkpoint into a temporary folder, then swap it in: a crash leaves the old one whole."""
    import torch
    from safetensors.torch import save_file

    final = out_dir / CHECKPOINT_DIR
    tmp = out_dir / (CHECKPOINT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in lora.items()}, str(tmp / "adapter.safetensors"))
    if best is not None:
        save_file({k: v.contiguous().cpu() for k, v in best.items()}, str(tmp / "best.safetensors"))
    torch.save({"optimizer": optimizer, "rng": rng}, tmp / "optimizer.pt")
    (tmp / "state.json").write_text(state.to_json(), encoding="utf-8")
    old = out_dir / (CHECKPOINT_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load_tensors(out_dir: Path) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    """(LoRA weights, best LoRA weights or None, {"optimizer": ..., "rng": ...}) of the checkpoint."""
    import torch
    from safetensors.torch import load_file

    folder = out_dir / CHECKPOINT_DIR
    lora = load_file(str(folder / "adapter.safetensors"))
    best_path = folder / "best.safetensors"
    best = load_file(str(best_path)) if best_path.is_file() else None
    extra = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    return lora, best, extra
