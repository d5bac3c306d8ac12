"""A task's own metric (`[metric] name = "custom"`, `function = "module:function"`), called as
f(output: str, example: dict) -> float in [0, 1].

The module is loaded from the task folder by its file path (`module.py`), under a module name derived from that
path, in a worker process of its own: two tasks shipping `metric.py` climb in one process with the right metric
each; a metric that hangs is stopped after `[metric] timeout_s` seconds; one that calls `sys.exit()` or crashes
ends its worker, not the climb. Each of these stops the climb with an error naming the row.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import IO, TYPE_CHECKING

from rungwise.errors import MetricError, TaskError
from rungwise.metrics import worker as _worker_module
from rungwise.metrics.base import Metric
from rungwise.task.data import Example

if TYPE_CHECKING:
    from rungwise.task.spec import Task

#: seconds the worker may take to load the metric's module
LOAD_TIMEOUT_S = 60.0


class CustomMetric(Metric):
    name = "custom"
    binary = False

    def __init__(self, toml: Path, folder: Path, target: str, function: str, *, timeout_s: float) -> None:
        self.toml = toml
        self.folder = folder
        self.target = target
        self.function = function
        self.timeout_s = timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._start()

    @classmethod
    def for_task(cls, task: Task) -> CustomMetric:
        spec = task.spec.metric.function or ""
        target, _, function = spec.partition(":")
        return cls(task.folder / "task.toml", task.folder.resolve(), target, function, timeout_s=task.spec.metric.timeout_s)

    # -- the worker -------------------------------------------------------------------------------
    def _start(self) -> None:
        script = Path(_worker_module.__file__ or "")
        self._proc = subprocess.Popen(
            [sys.executable, str(script), self.target, self.function, str(self.folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
            cwd=self.folder,
        )
        self._lines = queue.Queue()
        assert self._proc.stdout is not None
        threading.Thread(target=_pump, args=(self._proc.stdout, self._lines), daemon=True).start()
        weakref.finalize(self, _kill, self._proc)
        first = self._next(LOAD_TIMEOUT_S, "loading the metric")
        if "error" in first:
            self.close()
            raise TaskError(f"{self.toml}, field 'metric.function': {first['error']}. Put {self.target}.py in the "
                            "task folder (or make the module importable) with that function.")

    def _next(self, timeout: float, doing: str) -> dict[str, object]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise MetricError(f"the metric {self.target}:{self.function} took more than {timeout:g} s {doing}; "
                              "make it faster or raise [metric] timeout_s in task.toml.") from None
        if not line:
            code = self._proc.wait() if self._proc else None
            self._proc = None
            raise MetricError(f"the metric {self.target}:{self.function} ended its process (exit code {code}) "
                              f"while {doing}; a metric must return a score, not exit.")
        answer: dict[str, object] = json.loads(line)
        return answer

    def score(self, answer: str, example: Example) -> float:
        row = {"id": example.id, "input": example.input, "target": example.target, **example.meta}
        where = f"row {example.id}"
        with self._lock:
            if self._proc is None:
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps({"output": answer, "row": row}, default=str) + "\n")
                self._proc.stdin.flush()
            except OSError:
                pass  # the worker is gone: reading says so
            reply = self._next(self.timeout_s, f"scoring {where}")
        if "error" in reply:
            raise MetricError(f"{where}: the custom metric {self.target}:{self.function} {reply['error']}")
        value = reply.get("score")
        return float(value) if isinstance(value, (int, float)) else float("nan")

    def close(self) -> None:
        if self._proc is not None:
            _kill(self._proc)
            self._proc = None


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put("")  # end of stream: the worker ended


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
