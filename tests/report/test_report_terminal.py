"""`rungwise show RUN`: the terminal summary rendered from a stored record carries the figures a decision rests on,
as the live climb's does: each retriever's recall@k and MRR, each adapter's training time and staleness."""

from __future__ import annotations

import io
import re
from pathlib import Path

from report_runs import add_adapter, climb_label, climb_qa
from rich.console import Console

from rungwise.record.schema import ClimbRecord
from rungwise.record.stored import load_report
from rungwise.report.terminal import print_climb
from rungwise.store import Store


def _print(result: ClimbRecord, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    print_climb(result, console)
    return console.export_text()


def test_show_prints_the_figures_a_stored_run_carries(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    qa = climb_qa(tmp_path, db)
    live = _print(qa.record())
    shown = _print(load_report(Store(db), qa.run_id).result)
    for text in (live, shown):
        assert re.search(r"^rag-bm25 +\d+\.\d% +\d\.\d{3}$", text, re.M) and "recall@1" in text and "MRR" in text
    label = climb_label(tmp_path, tmp_path / "l.db")
    add_adapter(tmp_path / "l.db", label, tmp_path / "route")
    shown = _print(load_report(Store(tmp_path / "l.db"), label.run_id).result)
    assert re.search(r"^prompt +9 min 48 s +stale: trained on embedded:0123456789abcdef +1,000$", shown, re.M)
    assert "stale adapter: prompt was trained on embedded:0123456789abcdef" in shown
