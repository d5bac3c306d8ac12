"""How many CPU threads torch should train with: every core, unless fewer are measured faster.

On an idle 2-core machine two threads train about twice as fast as one. When other processes keep the
cores busy, torch's threads wait on each other at every parallel region and two threads were measured
five times *slower* than one (33 against 150 tokens/s on banking77 rows). So a run that is not told how
many threads to use measures: one step with each candidate (every core, half of them, one) at the start
and again every `probe_every` steps, and trains with the fastest in between.
"""

from __future__ import annotations

import os


def cpu_threads() -> int:
    """The cores this process may use (the affinity mask, which containers narrow, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class ThreadTuner:
    """Chooses the thread count step by step from measured speed (tokens per second).

    Step k of a run (counting from 0) runs with `threads_for(k)`; report its speed with `record`. Within
    each cycle of `probe_every` steps, step 0 runs with the current best (the run's very first step also
    warms up caches, so it is never a probe), steps 1..n probe the n candidates, one step each, and the
    rest run with the fastest of them.
    """

    def __init__(self, max_threads: int, *, probe_every: int = 50) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self.candidates = sorted({max_threads, max(1, max_threads // 2), 1}, reverse=True)
        self.probe_every = max(probe_every, len(self.candidates) + 2)
        self.best = max_threads
        self.speeds: dict[int, float] = {}

    def _probe_index(self, k: int) -> int | None:
        if len(self.candidates) == 1:
            return None
        phase = k % self.probe_every
        return phase - 1 if 1 <= phase <= len(self.candidates) else None

    def threads_for(self, k: int) -> int:
        i = self._probe_index(k)
        return self.best if i is None else self.candidates[i]

    def record(self, k: int, tokens: int, seconds: float) -> None:
        i = self._probe_index(k)
        if i is None or seconds <= 0:
            return
        self.speeds[self.candidates[i]] = tokens / seconds
        if i == len(self.candidates) - 1:
            self.best = max(self.speeds, key=lambda n: self.speeds[n])
