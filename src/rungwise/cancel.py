"""Cancellation shared by every long step of a climb: model calls stop being sent, training stops after its
current step (and keeps a checkpoint), and the climb raises `ClimbCancelled`. What was finished is stored,
so the same climb run again resumes where it stopped."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from rungwise.errors import ClimbCancelled

T = TypeVar("T")


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


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Terminated(KeyboardInterrupt):
    """SIGTERM (what CI runners, systemd and Kubernetes send to stop a process), raised where Ctrl-C's
    KeyboardInterrupt would be, so that it takes the same way out: finished answers stored, the run's lease
    released, one line. The CLI exits with 143 (128 + SIGTERM) instead of Ctrl-C's 130."""


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut short the way out
    raise Terminated


def stop_on_sigterm() -> None:
    """From now on, SIGTERM raises `Terminated` in the main thread (the CLI calls this once, at start)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def run_interruptibly(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`, where Ctrl-C raises KeyboardInterrupt at once wherever the main thread is.

    asyncio's own handler only cancels the main task on the first Ctrl-C, which takes effect when the event loop
    regains control: after a slow metric or an embedding pass, minutes later. Raising instead ends the climb within
    a second; the runner stores every finished answer on the way out, and the tasks in flight are cancelled."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return asyncio.run(coro)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        return asyncio.run(coro)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
