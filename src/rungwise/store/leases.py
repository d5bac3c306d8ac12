"""Leases on runs, so that two climbs never work on the same run at once.

A climb that resumes or starts a run holds a lease on it: a row in `run_leases` with its owner (host, pid, a
random tag) and a heartbeat it renews every HEARTBEAT_S seconds from a thread with its own connection. A lease
is live while its heartbeat is younger than STALE_S and, on this host, while its process exists (a climb killed
with -9 leaves a lease that the next climb takes over at once).

A second climb of the same task, model and settings that finds the run under a live lease *waits* for the first
to finish, saying so on stderr; it then starts its own run, whose answers all come from the response cache. So
two climbs never send the same request twice. (`--new` starts a separate run at once, and does not wait.)
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

#: seconds between heartbeats
HEARTBEAT_S = 5.0
#: a lease whose heartbeat is older than this is free
STALE_S = 30.0
#: seconds between two looks at a lease held by another climb
POLL_S = 0.5


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    tag: str

    @property
    def id(self) -> str:
        return f"{self.host}:{self.pid}:{self.tag}"


def me() -> Owner:
    return Owner(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


def is_live(host: str, pid: int, heartbeat_at: float, now: float | None = None) -> bool:
    """Whether a lease still holds: a recent heartbeat, and on this host a process that still exists."""
    if (now or time.time()) - heartbeat_at > STALE_S:
        return False
    return host != socket.gethostname() or _process_exists(pid)


class Heartbeat:
    """Calls `touch` (which renews the lease, on a connection of its own) every HEARTBEAT_S seconds until stopped,
    from a daemon thread."""

    def __init__(self, touch: Callable[[], None], run_id: str, owner: str) -> None:
        self.touch, self.run_id, self.owner = touch, run_id, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="rungwise-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        from rungwise.errors import StoreError

        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.touch()
            except StoreError:  # a busy or failing store: the climb itself reports it; try again later
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
