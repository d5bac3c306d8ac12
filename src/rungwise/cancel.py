"""Cancellation shared by every long step of a climb: model calls stop being sent, training stops after its
current step (and keeps a checkpoint), and the climb raises `ClimbCancelled`. What was finished is stored,
so the same climb run again resumes where it stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rungwise.errors import ClimbCancelled


class CancelToken:
    """Thread-safe: `cancel()` from any thread; the climb's steps check `cancelled` or register a hook."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call `hook` when cancelled (at once if already); returns a function that removes it."""
        with self._lock:
            if not self._event.is_set():
                self._hooks.append(hook)
                return lambda: self._remove(hook)
        hook()
        return lambda: None

    def _remove(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise ClimbCancelled()
