"""A LoRA training of a team's own model with TRL, as a process rungwise launches and follows.

    job = TrlJob.of(rows, config, base_dir=Path("/models/Qwen2.5-7B-Instruct"), folder=folder)
    result = run_trl(job, folder, launcher="accelerate", accelerate_config=Path("fsdp.yaml"), name="finetune",
                     progress=sink, cancel=token)

rungwise writes the job (`job.json`) and its rows (`train.jsonl`, TRL's conversational prompt-completion format)
into `folder`, launches `rungwise.finetune.trl_entry` with this Python (`launcher="python"`) or under
`accelerate launch --config_file CFG` (`launcher="accelerate"`: several GPUs or nodes, DeepSpeed or FSDP, as the
config says; rungwise adds no distribution of its own), turns the entry point's progress file into progress
events, asks it to stop through a file when the climb is cancelled, and reads the adapter and `result.json` it
leaves. A second launch in the same folder resumes from the last checkpoint.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rungwise.cancel import CancelToken
from rungwise.errors import ClimbCancelled, RungwiseError
from rungwise.finetune.dataset import Rows
from rungwise.outputs import write_output
from rungwise.progress import ProgressSink, report

PROGRESS_FILE = "progress.jsonl"
CANCEL_FILE = "cancel"
RESULT_FILE = "result.json"
LOG_FILE = "train.log"
Launcher = Literal["python", "accelerate"]
#: why a training that ends before its last step stopped, as its progress says (both trainers)
STOPPED_WHY = {"early_stopping": "no better on validation", "budget": "its time budget ran out"}
#: how long a cancelled training may take to save its checkpoint before it is stopped hard
CANCEL_GRACE_S = 120.0


class TrainingFailed(RungwiseError):
    """The training process ended without an adapter (its log names why)."""


class TrlJob(BaseModel):
    """What the entry point trains: the base model's folder, the rows' file and the LoRA settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_dir: str
    data: str
    r: int = Field(16, ge=1)
    alpha: float = Field(32.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"
    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(8, ge=1)
    max_examples: int | None = Field(None, ge=1)
    max_length: int = Field(1024, ge=8)
    max_minutes: float | None = Field(None, gt=0)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    max_val_examples: int = Field(100, ge=0)
    patience: int | None = Field(3, ge=1)
    checkpoint_steps: int = Field(50, ge=1)
    seed: int = 0

    @classmethod
    def of(cls, rows: Rows, config: Any, *, base_dir: Path, folder: Path) -> TrlJob:
        """The job for the rungs' `rows` under a `LoraConfig`, its rows written to `folder/train.jsonl`."""
        folder.mkdir(parents=True, exist_ok=True)
        data = folder / "train.jsonl"
        lines = [json.dumps({"prompt": [{"role": m.role, "content": m.content} for m in msgs],
                             "completion": [{"role": "assistant", "content": target}]}, ensure_ascii=False)
                 for msgs, target in rows]
        write_output(data, "\n".join(lines) + "\n", what="the training rows")
        return cls(base_dir=str(base_dir), data=str(data), r=config.r, alpha=config.alpha, dropout=config.dropout,
                   target_modules=config.target_modules, lr=config.lr, weight_decay=config.weight_decay,
                   epochs=config.epochs, batch_size=config.batch_size, max_examples=config.max_examples,
                   max_length=config.max_length, max_minutes=config.max_minutes, val_fraction=config.val_fraction,
                   max_val_examples=config.max_val_examples, patience=config.patience,
                   checkpoint_steps=config.checkpoint_every, seed=config.seed)


def launch_command(job_file: Path, launcher: Launcher = "python", accelerate_config: Path | None = None,
                   python: str | None = None) -> list[str]:
    """The command that runs the entry point on `job_file`."""
    if launcher == "python":
        return [python or sys.executable, "-m", "rungwise.finetune.trl_entry", str(job_file)]
    accelerate = shutil.which("accelerate") or str(Path(python or sys.executable).with_name("accelerate"))
    cmd = [accelerate, "launch"]
    if accelerate_config is not None:
        cmd += ["--config_file", str(accelerate_config)]
    return [*cmd, "-m", "rungwise.finetune.trl_entry", str(job_file)]


def run_trl(job: TrlJob, folder: Path, *, launcher: Launcher = "python", accelerate_config: Path | None = None,
            name: str = "finetune", progress: ProgressSink | None = None, cancel: CancelToken | None = None,
            poll_s: float = 0.5, command: Sequence[str] | None = None) -> dict[str, Any]:
    """Launch (or resume) the training in `folder` and follow it to its end; returns its `result.json`.
    Raises `ClimbCancelled` when `cancel` fires (after the checkpoint is saved) and `TrainingFailed` when the
    process ends without an adapter."""
    result_file = folder / RESULT_FILE
    if result_file.is_file() and (folder / "adapter").is_dir():
        return dict(json.loads(result_file.read_text(encoding="utf-8")))
    job_file = folder / "job.json"
    write_output(job_file, job.model_dump_json(indent=1), what="the training job")
    (folder / CANCEL_FILE).unlink(missing_ok=True)
    cmd = list(command) if command is not None else launch_command(job_file, launcher, accelerate_config)
    log = folder / LOG_FILE
    progress_file = folder / PROGRESS_FILE
    seen = progress_file.stat().st_size if progress_file.is_file() else 0
    last: tuple[int, int] = (0, 0)
    with log.open("ab") as out:
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
        except OSError as e:
            raise TrainingFailed(f"Could not start the training ({cmd[0]}): {e.strerror or e}.") from None
        cancelled_at: float | None = None
        while proc.poll() is None:
            time.sleep(poll_s)
            seen, last = _follow(progress_file, seen, last, progress, name)
            if cancel is not None and cancel.cancelled and cancelled_at is None:
                (folder / CANCEL_FILE).write_text("cancel\n", encoding="utf-8")
                cancelled_at = time.monotonic()
            if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE_S:
                proc.terminate()
        seen, last = _follow(progress_file, seen, last, progress, name)
    if cancel is not None and cancel.cancelled:
        raise ClimbCancelled("The climb was cancelled during training. The training's last checkpoint and every "
                             "finished result are stored; run the same climb again to resume.")
    if proc.returncode != 0 or not result_file.is_file():
        raise TrainingFailed(f"The training stopped (exit code {proc.returncode}): {_last_error(log)} "
                             f"(its whole log: {log}).")
    result = dict(json.loads(result_file.read_text(encoding="utf-8")))
    if result.get("steps", 0) < result.get("total_steps", 0):
        report(progress, "training", name, int(result["steps"]), int(result["total_steps"]),
               stopped=STOPPED_WHY.get(str(result.get("stop_reason")), ""))
    return result


def _follow(path: Path, seen: int, last: tuple[int, int], progress: ProgressSink | None,
            name: str) -> tuple[int, tuple[int, int]]:
    """Progress lines written since byte `seen`, as events (the last full line of each read)."""
    if not path.is_file() or path.stat().st_size <= seen:
        return seen, last
    with path.open("rb") as f:
        f.seek(seen)
        chunk = f.read()
    end = chunk.rfind(b"\n")
    if end < 0:
        return seen, last
    for line in chunk[:end].splitlines():
        try:
            data = json.loads(line)
            step, total = int(data["step"]), int(data["total"])
        except (ValueError, KeyError, TypeError):
            continue
        if (step, total) != last:
            last = (step, total)
            report(progress, "training", name, step, total)
    return seen + end + 1, last


def _last_error(log: Path) -> str:
    """The log's last line that names an error (else its last line), for one line a user can act on."""
    try:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if "Error" in ln or "error:" in ln]
    return (errors or lines or ["no output"])[-1][:300]
