"""The terminal report: readable in a narrow terminal, every column in a wide one."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from rungwise.climb import ClimbOptions, climb
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.report.terminal import print_climb
from rungwise.task import Task


def _render(label_task: Path, tmp_path: Path, width: int) -> str:
    task = Task.load(label_task)
    gold = {ex.input: ex.target for ex in task.eval}

    def answer(request: Request) -> str:
        return gold[request.messages[-1].content] if request.messages[0].role == "system" else "not sure"

    result = climb(task, FakeModel(answer), ClimbOptions(store_path=tmp_path / f"s{width}.db"))
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_climb(result, console)
    return console.export_text()


def test_narrow_terminal_keeps_names_whole(label_task: Path, tmp_path: Path) -> None:
    text = _render(label_task, tmp_path, 80)
    assert "prompt-constrained" in text and "100.0% [" in text  # not squeezed to "pro…"
    assert "content fail" not in text and "shows every column" in text
    assert max(len(line) for line in text.splitlines() if "│" in line) <= 80


def test_wide_terminal_shows_every_column(label_task: Path, tmp_path: Path) -> None:
    text = _render(label_task, tmp_path, 200)
    assert "content fail" in text and "p95 s" in text and "shows every column" not in text


def test_a_stale_adapter_is_shown_with_what_retraining_costs(label_task: Path, tmp_path: Path) -> None:
    import dataclasses

    task = Task.load(label_task)
    result = climb(task, FakeModel(lambda r: "billing"), ClimbOptions(store_path=tmp_path / "s.db"))
    name = result.variants[0].name
    result = dataclasses.replace(result, extra={
        **result.extra, "stale_adapters": {name: "embedded:0123456789abcdef"},
        "finetune_costs": {name: {"training": 1.5, "retraining_per_year": 6.0}}})
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    print_climb(result, console)
    text = console.export_text()
    assert f"stale adapter: {name} was trained on embedded:0123456789abcdef" in text
    assert "retraining it costs about 1.50" in text and "6.00 a year" in text
