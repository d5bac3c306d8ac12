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

Stage = Literal["calls", "embedding", "indexing", "training", "search"]


@dataclass(frozen=True)
class ProgressEvent:
    #: what kind of work: model calls of a variant, embedding texts, building an index, training steps
    stage: Stage
    #: what is being worked on: a variant's name, "train pool", a corpus, an adapter
    name: str
    done: int
    total: int
    #: set on the last event of a piece of work that ends before its total, saying why ("cannot reach the
    #: target": a variant stopped early, docs/early-stop.md; "no better on validation": training stopped early)
    stopped: str = ""

    @property
    def label(self) -> str:
        return self.name if self.stage == "calls" else f"{self.name}: {self.stage}"

    @property
    def ended(self) -> bool:
        """This is the piece's last event: it finished or it stopped."""
        return bool(self.stopped) or self.done >= self.total


ProgressSink = Callable[[ProgressEvent], None]

#: what the counts of each stage count, for the lines of a log
UNITS: dict[str, str] = {"calls": "rows", "embedding": "texts", "indexing": "", "training": "steps",
                         "search": "metric calls"}


def report(sink: ProgressSink | None, stage: Stage, name: str, done: int, total: int, *, stopped: str = "") -> None:
    """Send one event to `sink`, if there is one; `stopped` says why the piece ends here, before its total."""
    if sink is not None:
        sink(ProgressEvent(stage, name, done, total, stopped))


class _Track:
    __slots__ = ("start", "first_done", "done", "total", "last_event", "last_line", "printed_done", "ended")

    def __init__(self, now: float, done: int, total: int) -> None:
        self.start = now
        self.first_done = done  # what an interrupted run already had: not counted in the rate
        self.done = done
        self.total = total
        self.last_event = now  # the rate runs to the last event, so no estimate grows while nothing arrives
        self.last_line = now
        self.printed_done = done
        self.ended = False


class PlainProgress:
    """Progress as plain lines, for logs (CI) where no bar can be drawn. Per piece of work (a variant's calls,
    embedding, indexing, training): one line when it starts, then at most one line every `every_s` seconds while
    it advances (done/total, the rate, the time left), and one last line when it finishes or stops early, saying
    which. A piece that ended is never printed again, and a piece that does not advance prints nothing."""

    def __init__(self, write: Callable[[str], None], *, every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.every_s = every_s
        self.clock = clock
        self._tracks: dict[str, _Track] = {}

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        label = safe_text(event.label)
        unit = UNITS.get(event.stage, "")
        track = self._tracks.get(label)
        if track is not None and track.ended:
            if event.done >= track.done and event.total <= track.total:
                return  # the same piece again (a cached stage, a repeated last event): said already
            # the same name starts over from fewer rows, or goes on past its total (a look of --decide scores more
            # rows of a variant that had finished): a new piece of work
            track = None
        if track is None:
            track = self._tracks[label] = _Track(now, event.done, event.total)
            if not event.ended:
                self.write(self._start_line(label, track, unit))
        if event.done != track.done:
            track.last_event = now
        track.done, track.total = event.done, event.total
        if event.ended:
            track.ended = True
            self.write(self._end_line(label, track, event.stopped, unit))
        elif now - track.last_line >= self.every_s and track.done > track.printed_done:
            track.last_line, track.printed_done = now, track.done
            self.write(self._line(label, track, now))

    def _start_line(self, label: str, t: _Track, unit: str) -> str:
        if not unit:
            return f"{label}: started"
        before = f", {t.done} done before" if t.done else ""
        return f"{label}: started, {t.total} {unit}{before}"

    def _end_line(self, label: str, t: _Track, stopped: str, unit: str) -> str:
        if stopped:
            return f"{label}: stopped after {t.done} of {t.total}{' ' + unit if unit else ''} ({safe_text(stopped)})"
        rate = self._rate(t)
        counts = f" {t.done}/{t.total}" if unit else ""
        return f"{label}:{counts} done in {duration(t.last_event - t.start)}" + (f" ({_per(rate)})" if rate and unit else "")

    def _line(self, label: str, t: _Track, now: float) -> str:
        rate = self._rate(t)
        line = f"{label}: {t.done}/{t.total}"
        if rate:
            line += f", {_per(rate)}, about {duration((t.total - t.done) / rate)} left"
        return line + f" ({duration(now - t.start)} so far)"

    @staticmethod
    def _rate(t: _Track) -> float | None:
        elapsed = t.last_event - t.start
        counted = t.done - t.first_done
        return counted / elapsed if elapsed > 0 and counted > 0 else None


def _per(rate: float) -> str:
    """A rate per second, or per minute when that reads better (slow training steps)."""
    return f"{rate:.1f}/s" if rate >= 0.1 else f"{rate * 60:.1f}/min"


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 42 s, 5 min 07 s, 1 h 02 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
