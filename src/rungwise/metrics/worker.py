"""Runs a task's own metric in a process of its own (started by `rungwise.metrics.custom`; stdlib only).

    python worker.py FILE_OR_MODULE FUNCTION TASK_FOLDER

Reads one JSON request a line on stdin ({"output": ..., "row": {...}}) and answers one JSON line on stdout:
{"score": x} or {"error": "..."}. The first line it writes says whether the metric loaded.
"""

import hashlib
import importlib
import importlib.util
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def _load(target: str, function: str, folder: str) -> Callable[..., Any]:
    path = os.path.join(folder, target.replace(".", os.sep) + ".py")
    if os.path.isfile(path):
        # a module name of its own: two tasks that both ship metric.py never share a module
        name = "rungwise_task_metric_" + hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:16]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, folder)  # the metric may import its own helpers beside it
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    func = getattr(module, function, None)
    if not callable(func):
        raise LookupError(f"{target} has no function {function!r}")
    return func


def main() -> None:
    # Ctrl-C reaches the whole process group: the climb handles it (and ends this process); a metric interrupted
    # here would be reported as that row's error instead of stopping the climb
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout
    sys.stdout = sys.stderr  # a metric that prints must not break the protocol
    target, function, folder = sys.argv[1:4]
    try:
        func = _load(target, function, folder)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt on import are reported too
        out.write(json.dumps({"error": f"cannot load {target}:{function} ({type(exc).__name__}: {exc})"}) + "\n")
        out.flush()
        return
    out.write(json.dumps({"ok": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any]
        try:
            value = func(request["output"], request["row"])
            try:
                answer = {"score": float(value)}
            except (TypeError, ValueError):
                answer = {"error": f"returned {value!r:.80}, not a number from 0 to 1"}
        except BaseException as exc:  # noqa: BLE001 - a metric calling sys.exit() is an error of that row
            answer = {"error": f"raised {type(exc).__name__}: {exc}"}
        text = json.dumps(answer)  # NaN is written as NaN and read back as nan
        out.write(text + "\n")
        out.flush()


if __name__ == "__main__":
    main()
