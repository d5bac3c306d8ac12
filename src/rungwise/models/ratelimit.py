"""Requests-per-minute and tokens-per-minute limits that are never exceeded, and the server's own Retry-After.

A sliding window: a request is sent only when fewer than `rpm` requests were sent in the last 60 s, and when its
tokens together with those of the last 60 s stay within `tpm`. The window is kept a little longer than a minute
(a tenth of it, at most 1 s), so that a request that reaches the server late does not make it count one too many. A request's tokens are reserved before it is sent
at what it may cost at most (its prompt counted generously, plus its whole `max_tokens`), and settled to what
the server reports it used once it answers. A Retry-After from the server pauses every request until then.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from rungwise.errors import TaskError

WINDOW_S = 60.0


class Slot:
    """One request in the window: when it was sent and the tokens counted for it."""

    __slots__ = ("at", "tokens")

    def __init__(self, at: float, tokens: int) -> None:
        self.at = at
        self.tokens = tokens

    def settle(self, tokens: int) -> None:
        """Count what the request really used (its usage), once it is known."""
        self.tokens = tokens


class RateLimiter:
    def __init__(self, rpm: int | None = None, tpm: int | None = None, *, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value < 1:
                raise TaskError(f"--{name} must be at least 1, not {value!r}.")
        self.rpm = rpm
        self.tpm = tpm
        self.window_s = window_s
        self.clock = clock
        self._slots: deque[Slot] = deque()
        self._lock: asyncio.Lock | None = None
        self._pause_until = 0.0
        #: seconds spent waiting for the limits or a Retry-After, in all
        self.waited_s = 0.0

    def new_loop(self) -> None:
        """Forget the lock of a closed event loop (the window itself is kept: the limits span climbs)."""
        self._lock = None

    def pause(self, seconds: float) -> None:
        """The server asked for no request in the next `seconds` (Retry-After): every request waits."""
        self._pause_until = max(self._pause_until, self.clock() + seconds)

    @property
    def span_s(self) -> float:
        """The window as kept: the minute, and a margin for the network's jitter."""
        return self.window_s + min(1.0, 0.1 * self.window_s)

    def _wait_s(self, tokens: int) -> float:
        now = self.clock()
        span = self.span_s
        while self._slots and self._slots[0].at <= now - span:
            self._slots.popleft()
        wait = max(0.0, self._pause_until - now)
        if self.rpm is not None and len(self._slots) >= self.rpm:
            wait = max(wait, self._slots[-self.rpm].at + span - now)
        if self.tpm is not None:
            used = sum(s.tokens for s in self._slots)
            if used + tokens > self.tpm:
                # wait until enough of the oldest slots leave the window
                freed = 0
                for s in self._slots:
                    freed += s.tokens
                    if used - freed + tokens <= self.tpm:
                        wait = max(wait, s.at + span - now)
                        break
        return wait

    async def acquire(self, tokens: int = 0) -> Slot:
        """Wait until a request of `tokens` fits the limits, then count it as sent now."""
        if self.tpm is not None and tokens > self.tpm:
            raise TaskError(f"One request may use up to {tokens} tokens, more than the limit of {self.tpm} tokens "
                            "per minute: it could never be sent. Raise --tpm, or lower the task's max_tokens.")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one waiter at a time, in arrival order
            while (wait := self._wait_s(tokens)) > 0:
                self.waited_s += wait
                await asyncio.sleep(wait)
            slot = Slot(self.clock(), tokens)
            self._slots.append(slot)
            return slot
