"""Progress while a command works: a rich bar per piece of work on a terminal, plain lines in a log."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rungwise.progress import PlainProgress, ProgressEvent
from rungwise.textsafe import safe_text


def escape(text: str) -> str:
    return _markup_escape(safe_text(text))


class Remaining(TimeRemainingColumn):
    """The time left, and none for a piece of work that stopped early."""

    def render(self, task: Any) -> Any:
        from rich.text import Text

        return Text("") if task.fields.get("stopped") else super().render(task)


class LiveProgress:
    """A rich progress bar per piece of work (a variant's calls, embedding, indexing, training), drawn on `console`
    (stderr) when stderr is a terminal; plain lines when it is not, as in CI logs: one when a piece starts, at most
    one every 30 s while it advances, one when it finishes or stops early (rungwise.progress.PlainProgress)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def __enter__(self) -> tuple[Callable[[ProgressEvent], None], Progress]:
        tty = sys.stderr.isatty()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            Remaining(), console=self.console, transient=False, disable=not tty)
        self.tasks: dict[str, Any] = {}
        self.bar.start()
        if not tty:
            return PlainProgress(lambda line: print(f"rungwise: {line}", file=sys.stderr, flush=True)), self.bar

        def callback(event: ProgressEvent) -> None:
            label = event.label
            if label not in self.tasks:
                self.tasks[label] = self.bar.add_task(escape(label), total=event.total)
            task_id = self.tasks[label]
            self.bar.update(task_id, completed=event.done, total=event.total)
            if event.stopped:
                self.bar.update(task_id, description=escape(f"{label} (stopped: {event.stopped})"), stopped=True)
                self.bar.stop_task(task_id)

        return callback, self.bar

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
