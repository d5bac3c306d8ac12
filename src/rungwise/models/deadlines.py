"""How long rungwise waits for a server, and how often it tries again: per call, set by the user.

    read_s     per attempt: the longest wait for the answer (also the wall-clock cap of one attempt, with connect_s)
    connect_s  per attempt: the longest wait for the connection
    retries    attempts after the first, on timeouts, dropped connections, 429/5xx and malformed answers
    total_s    per call: every attempt and the backoff between them together

The defaults fail a server that accepts connections and never answers in about a minute (4 attempts of 15 s
and about 2 s of backoff); `--timeout`/`--retries` or RUNGWISE_TIMEOUT/RUNGWISE_RETRIES change them.

`apply_deadlines` is the one place the order is decided, for a climb, a gate and a distillation alike: the value
given (`ClimbOptions`, a flag), else RUNGWISE_TIMEOUT/RUNGWISE_RETRIES, else the task's `[model]` value, else what
the model already has (its backend's default).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from rungwise.errors import TaskError

DEFAULT_READ_S = 15.0
DEFAULT_CONNECT_S = 5.0
DEFAULT_RETRIES = 3
#: the backoff between attempts is capped at this many seconds
MAX_BACKOFF_S = 20.0


@dataclass(frozen=True)
class Deadlines:
    read_s: float = DEFAULT_READ_S
    connect_s: float = DEFAULT_CONNECT_S
    retries: int = DEFAULT_RETRIES
    total_s: float | None = None
    """None: the attempts and their backoff, plus a little (see `total`)."""

    @property
    def attempts(self) -> int:
        return self.retries + 1

    @property
    def attempt_s(self) -> float:
        """Wall-clock cap of one attempt (a server that drips its answer a byte at a time is cut off here)."""
        return self.read_s + self.connect_s

    def total(self, backoff_s: float) -> float:
        if self.total_s is not None:
            return self.total_s
        backoff = sum(min(backoff_s * 2**i, MAX_BACKOFF_S) * 1.5 for i in range(self.retries))
        return self.attempts * self.attempt_s + backoff

    @classmethod
    def resolve(cls, timeout_s: float | None = None, retries: int | None = None,
                connect_s: float | None = None, total_s: float | None = None) -> Deadlines:
        """Explicit values first, then RUNGWISE_TIMEOUT / RUNGWISE_RETRIES, then the defaults."""
        read = timeout_s if timeout_s is not None else _env_number("RUNGWISE_TIMEOUT", float)
        tries = retries if retries is not None else _env_number("RUNGWISE_RETRIES", int)
        read = DEFAULT_READ_S if read is None else float(read)
        tries = DEFAULT_RETRIES if tries is None else int(tries)
        if not (math.isfinite(read) and read > 0):
            raise TaskError(f"The timeout must be a positive number of seconds, not {read!r}.")
        if tries < 0:
            raise TaskError(f"The number of retries must be 0 or more, not {tries!r}.")
        connect = connect_s if connect_s is not None else min(DEFAULT_CONNECT_S, read)
        return cls(read_s=read, connect_s=connect, retries=tries, total_s=total_s)


def _env_number(name: str, kind: type[float] | type[int]) -> float | int | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return kind(raw)
    except ValueError:
        raise TaskError(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number.") from None


def apply_deadlines(model: Any, timeout_s: float | None = None, retries: int | None = None, *,
                    task_timeout_s: float | None = None, task_retries: int | None = None) -> None:
    """Set the deadlines of a model that takes them (`set_deadlines`: the HTTP-backed ones, the embedded model
    included): `timeout_s`/`retries` when given, else the task's values unless RUNGWISE_TIMEOUT/RUNGWISE_RETRIES
    is set (the variable wins over the task); a value set nowhere keeps the model's own."""
    set_deadlines = getattr(model, "set_deadlines", None)
    if set_deadlines is None:
        return
    if timeout_s is None and _env_number("RUNGWISE_TIMEOUT", float) is None:
        timeout_s = task_timeout_s
    if retries is None and _env_number("RUNGWISE_RETRIES", int) is None:
        retries = task_retries
    if timeout_s is None and retries is None:
        return
    current = getattr(model, "deadlines", None)
    if isinstance(current, Deadlines):  # the one not given stays as the model has it
        timeout_s = current.read_s if timeout_s is None else timeout_s
        retries = current.retries if retries is None else retries
    set_deadlines(timeout_s, retries)
