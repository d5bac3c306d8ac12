"""One progress protocol for everything a climb waits on: model calls, embedding, indexing and training.

A sink is any callable taking a `ProgressEvent`; the CLI draws bars from them, a caller of the Python API may
log them, and a test may count them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Stage = Literal["calls", "embedding", "indexing", "training"]


@dataclass(frozen=True)
class ProgressEvent:
    #: what kind of work: model calls of a variant, embedding texts, building an index, training steps
    stage: Stage
    #: what is being worked on: a variant's name, "train pool", a corpus, an adapter
    name: str
    done: int
    total: int

    @property
    def label(self) -> str:
        return self.name if self.stage == "calls" else f"{self.name}: {self.stage}"


ProgressSink = Callable[[ProgressEvent], None]


def report(sink: ProgressSink | None, stage: Stage, name: str, done: int, total: int) -> None:
    """Send one event to `sink`, if there is one."""
    if sink is not None:
        sink(ProgressEvent(stage, name, done, total))
