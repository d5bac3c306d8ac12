"""The terminal report: readable in a narrow terminal, every column in a wide one."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from ladder_result import banking77_result
from rich.console import Console

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.record.schema import ClimbRecord
from rungwise.report.terminal import print_climb
from rungwise.task.spec import Task


def _render(label_task: Path, tmp_path: Path, width: int) -> str:
    task = Task.load(label_task)
    gold = {ex.input: ex.target for ex in task.eval}

    def answer(request: Request) -> str:
        return gold[request.messages[-1].content] if request.messages[0].role == "system" else "not sure"

    result = climb(task, FakeModel(answer), ClimbOptions(store_path=tmp_path / f"s{width}.db"))
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_climb(result.record(), console)
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
        "finetune_costs": {name: {"training": 1.5, "retraining_per_year": 6.0}}}, stored=None)
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    print_climb(result.record(), console)
    text = console.export_text()
    assert f"stale adapter: {name} was trained on embedded:0123456789abcdef" in text
    assert "retraining it costs about 1.50" in text and "6.00 a year" in text


WIDTHS = (80, 120, 160)


def _print(result: ClimbRecord, width: int, terminal: bool) -> str:
    """What print_climb shows at `width` columns, on a terminal (colours) or in a log."""
    console = Console(file=io.StringIO(), width=width, record=True, force_terminal=terminal,
                      color_system="standard" if terminal else None)
    print_climb(result, console)
    return console.export_text()


def _table_rows(text: str) -> list[str]:
    """The body lines of the first boxed table in `text`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    end = next(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[start + 1:end]


@pytest.mark.parametrize("terminal", [True, False])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_ladder_is_readable_at_every_width(width: int, terminal: bool) -> None:
    result = banking77_result()
    text = _print(result, width, terminal)
    assert max(len(line) for line in text.splitlines()) <= width and "…" not in text
    # one line per variant, each name whole: no cell wrapped over several lines
    rows = _table_rows(text)
    assert [row.split("│")[1].strip().removesuffix(" *") for row in rows] == [
        v.name + (" (probe)" if v.probe else "") for v in result.variants]
    header = text.splitlines()[text.splitlines().index(next(ln for ln in text.splitlines() if ln.startswith("┏"))) + 1:]
    header = header[:next(i for i, line in enumerate(header) if line.startswith("┡"))]
    words = {w for line in header for w in line.replace("┃", " ").split()}
    assert {"variant", "score", "[95%", "CI]", "prompt", "tok", "format", "fail"} <= words  # never cut to a letter
    assert all(len(w) > 1 or w == "s" for w in words)
    # every verdict is there: in its column, or on a line under the table
    verdict = "no measurable gain (+5.0, p=0.5, 20 rows)"
    if "vs below" in " ".join(header):
        assert any(verdict in row for row in rows)
    else:
        assert f"prompt-constrained: {verdict.replace('gain (', 'gain over baseline (')}" in text
        assert "finetune-constrained: worse than fewshot-knn-constrained (-48.0, p=2.2e-30)" in text
    assert ("shows every column" in text) == (width < 190)


def test_what_the_width_shows_grows_with_it() -> None:
    shown = {w: _table_rows(_print(banking77_result(), w, False))[0].count("│") - 1 for w in WIDTHS}
    assert shown[80] == 4 and shown[80] < shown[120] < shown[160]
    assert "content fail" not in _print(banking77_result(), 80, False)
    assert "vs below" in _print(banking77_result(), 160, False)


@pytest.mark.parametrize("width", WIDTHS)
def test_recall_mrr_training_time_and_staleness_are_in_the_summary(width: int) -> None:
    text = _print(banking77_result(), width, False)
    for name, recall, mrr in (("rag-bm25", "62.0%", "0.481"), ("rag-dense", "71.0%", "0.553"),
                              ("rag-hybrid", "74.0%", "0.590")):
        assert re.search(rf"^{name} +{re.escape(recall)} +{mrr}$", text, re.M), name
    assert "recall@4" in text and "MRR" in text
    assert re.search(r"^finetune +5 min 37 s +current +1,000", text, re.M)
    assert re.search(r"^finetune-rag +21 min 02 s +stale: trained on embedded:0123456789abcdef +1,000", text, re.M)
    assert max(len(line) for line in text.splitlines()) <= width


def test_a_ladder_without_retrieval_or_adapters_has_no_such_tables(label_task: Path, tmp_path: Path) -> None:
    text = _render(label_task, tmp_path, 120)
    assert "recall@" not in text and "MRR" not in text and "trained in" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_baselines_never_cut_a_run_id(width: int) -> None:
    from rungwise.report.terminal import print_baselines
    from rungwise.store import RunInfo

    summary = {"shipped": "fewshot-knn-constrained", "variants": [{"name": "fewshot-knn-constrained", "score": 0.895}]}
    history = [(RunInfo(run_id, "banking77", "t", "h", "embedded:smollm2-135m:5c3f0e9d2a7b1146", {}, "done", 0.0, None,
                        summary), 1796613344.0) for run_id in ("20261207-031544-3f9a2c", "20261130-101010-0a1b2c")]
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_baselines(history, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width and not any("…" in line for line in lines)
    assert lines[2].split()[:4] == ["current", "20261207-031544-3f9a2c", "fewshot-knn-constrained", "89.5%"]
    assert lines[3].split()[:3] == ["20261130-101010-0a1b2c", "fewshot-knn-constrained", "89.5%"]
    assert ("not shown: set, model" in lines[-1]) == (width == 80)


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_never_cut_a_run_id(width: int) -> None:
    from rungwise.report.terminal import print_runs
    from rungwise.store import RunInfo

    runs = [RunInfo("20261207-031544-3f9a2c", "banking77", "t", "h", "embedded:smollm2-135m:5c3f0e9d2a7b1146", {},
                    "done", 1796613344.0, None,
                    {"shipped": "fewshot-knn-constrained", "variants": [{"name": "fewshot-knn-constrained",
                                                                        "score": 0.895}]}),
            RunInfo("20261206-221003-a81b0e", "xquad_en", "t", "h", "http://gpu:8000/v1:Qwen2.5-7B-Instruct", {},
                    "running", 1796600000.0, None, None)]
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_runs(runs, console)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width and "…" not in text
    first, second = lines[2].split(), lines[3].split()
    assert first[0] == "20261207-031544-3f9a2c" and second[0] == "20261206-221003-a81b0e"  # whole, first
    assert {"banking77", "done", "fewshot-knn-constrained", "89.5%"} <= set(first)
    assert {"xquad_en", "running", "-"} <= set(second)
    assert ("embedded:smollm2-135m:5c3f0e9d2a7b1146" in text) == (width >= 120)
    assert ("(not shown:" in text) == (width < 160)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_frontier_keeps_score_and_cost_whole_and_folds_a_long_model_label(width: int) -> None:
    from rungwise.judge.frontier import Point, build_frontier
    from rungwise.report.terminal import print_frontier

    url = "http://gpu-box:8000/v1#qwen2.5-7b-instruct"

    def point(model: str, variant: str, score: float, cost: float) -> Point:
        rows = {f"r{i}": float(i < score * 10) for i in range(10)}
        return Point(model, variant, "fewshot", score, score - 0.1, min(1.0, score + 0.1), 10, 810, 7.3, 0.85, cost,
                     cost * 300_000, "USD", "run", rows)

    frontier = build_frontier([point("local", "fewshot-knn-constrained", 0.9, 0.000121),
                               point(url, "fewshot-knn-constrained", 0.9, 0.00009), point(url, "prompt", 0.3, 0.00002)],
                              target=0.85)
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_frontier(frontier.to_dict(), console)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width and "…" not in text
    rows = [line for line in text.splitlines() if line.startswith("│")]
    for cell in ("fewshot-knn-constrained", "90.0% [80.0%, 100.0%]", "30.0% [20.0%, 40.0%]", "0.000121",
                 "0.000090", "0.000020"):  # score and cost per call of every point, whole
        assert any(cell in row for row in rows), cell
    if width >= 120:  # whole where it fits, else folded over lines, never cut short
        assert any(url in row for row in rows)
    else:
        assert not any(url in row for row in rows)
        assert any("http://gpu-box:" in row for row in rows) and any("instruct" in row for row in rows)
