"""The embedded tuner's progress: a training that stops before its last step says why, as its last event."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rungwise.finetune import export_gguf, train
from rungwise.models.base import Message
from rungwise.models.embedded_tuner import EmbeddedTuner
from rungwise.progress import PlainProgress, ProgressEvent


def _fake_training(monkeypatch: pytest.MonkeyPatch, stop_reason: str, steps: int, total: int) -> None:
    """Training replaced by a job that reports `steps` of `total` steps and stops for `stop_reason`."""

    class Job:
        def __init__(self, examples: Any, out_dir: Path, config: Any, *, on_progress: Any) -> None:
            self.out_dir, self.on_progress = Path(out_dir), on_progress

        def cancel(self) -> None:  # pragma: no cover - not cancelled here
            pass

        def run(self) -> train.TrainingResult:
            for step in range(1, steps + 1):
                self.on_progress(SimpleNamespace(step=step, total_steps=total))
            return train.TrainingResult(
                adapter_dir=self.out_dir, train_seconds=12.0, trained_tokens=100, target_tokens=10, tokens_per_s=8.0,
                train_loss=0.5, val_loss=0.6, steps=steps, total_steps=total, examples_used=4, val_examples=1,
                examples_skipped=0, stop_reason=stop_reason, device="cpu")  # type: ignore[arg-type]

    def export(adapter_dir: Path, out: Path, **_: Any) -> Path:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"gguf")
        return out

    monkeypatch.setattr(train, "TrainingJob", Job)
    monkeypatch.setattr(export_gguf, "export_lora_gguf", export)


@pytest.mark.parametrize(("reason", "steps", "why"), [("early_stopping", 30, "no better on validation"),
                                                      ("budget", 12, "its time budget ran out"),
                                                      ("completed", 100, "")])
def test_a_training_that_stops_early_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reason: str,
                                              steps: int, why: str) -> None:
    _fake_training(monkeypatch, reason, steps, 100)
    base = tmp_path / "base.gguf"
    base.write_bytes(b"weights")
    events: list[ProgressEvent] = []
    rows = [((Message("user", "hello"),), "hi")]
    EmbeddedTuner(base).train(rows, train.LoraConfig(), tmp_path / "adapters" / "route-finetune",
                              progress=events.append)
    assert events[-1] == ProgressEvent("training", "route-finetune", steps, 100, why)
    assert not any(e.stopped for e in events[:-1])
    lines: list[str] = []
    log = PlainProgress(lines.append, clock=lambda: 0.0)
    for e in events:
        log(e)
    assert lines[-1] == (f"route-finetune: training: stopped after {steps} of 100 steps ({why})" if why
                         else "route-finetune: training: 100/100 done in 0 s")
