"""One progress protocol for everything a climb waits on: model calls, embedding, indexing and training.

A sink is any callable taking a `ProgressEvent`; the CLI draws bars from them on a terminal and writes plain
lines (`PlainProgress`) where stderr is not one, a caller of the Python API may log them, and a test may count them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rungwise.textsafe import safe_text

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


class _Track:
    __slots__ = ("start", "first_done", "done", "total", "finished")

    def __init__(self, start: float, done: int, total: int) -> None:
        self.start = start
        self.first_done = done  # what an interrupted run already had: not counted in the rate
        self.done = done
        self.total = total
        self.finished = False


class PlainProgress:
    """Progress as plain lines, for logs (CI) where no bar can be drawn: one line when a piece of work (a
    variant's calls, embedding, indexing, training) finishes, and every `every_s` seconds one line per piece still
    running, with done/total, the rate and the time left."""

    def __init__(self, write: Callable[[str], None], *, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.every_s = every_s
        self.clock = clock
        self._tracks: dict[str, _Track] = {}
        self._last = clock()

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        label = safe_text(event.label)
        track = self._tracks.get(label)
        if track is None:
            track = self._tracks[label] = _Track(now, event.done, event.total)
        track.done, track.total = event.done, event.total
        if event.done >= event.total and not track.finished:
            track.finished = True
            self.write(self._line(label, track, now, finished=True))
        if now - self._last >= self.every_s:
            self._last = now
            for name, t in self._tracks.items():
                if not t.finished:
                    self.write(self._line(name, t, now))

    def _line(self, label: str, t: _Track, now: float, *, finished: bool = False) -> str:
        elapsed = now - t.start
        counted = t.done - t.first_done
        rate = counted / elapsed if elapsed > 0 and counted > 0 else None
        line = f"{label}: {t.done}/{t.total}"
        if finished:
            return line + f" done in {_duration(elapsed)}" + (f" ({rate:.1f}/s)" if rate else "")
        if rate:
            line += f", {rate:.1f}/s, about {_duration((t.total - t.done) / rate)} left"
        return line + f" ({_duration(elapsed)} so far)"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
