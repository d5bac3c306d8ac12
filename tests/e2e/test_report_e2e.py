"""End to end: the report of a real climb on the embedded model, written by the CLI from the store alone (the task
folder removed first) and opened in headless Chromium when one is installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rungwise.cli import app
from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.embedded import EmbeddedModel
from rungwise.record.stored import load_report
from rungwise.store import Store

from helpers import small_banking77


def test_report_of_an_embedded_climb(embedded: EmbeddedModel, tmp_path: Path) -> None:
    folder = small_banking77(tmp_path, 4, slice(50))
    db = tmp_path / "s.db"
    result = climb(folder, embedded, ClimbOptions(all_rungs=True, rungs=["baseline", "prompt"], store_path=db))
    inputs = [line for line in (folder / "eval.jsonl").read_text().splitlines()]
    shutil.rmtree(folder)  # the report needs the store only
    report = load_report(Store(db), result.run_id)
    assert len(report.rows) == 4 and len(inputs) == 4 and all(r.input for r in report.rows)
    assert list(report.variants) == ["baseline", "prompt", "prompt-constrained"]
    assert report.run.model == embedded.fingerprint
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["report", result.run_id, "-o", str(out), "--store", str(db)])
    assert res.exit_code == 0, res.output
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium binary: the page was written but not opened (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.resolve().as_uri())
        page.wait_for_selector("html[data-ready='1']")
        assert page.locator("svg.chart-ladder circle.point").count() == 3
        assert page.get_attribute("#rows", "data-shown") == "4"
        page.select_option("#kind", label="failures only")
        page.select_option("#variant", label="baseline")
        base = result.variants[0]
        assert page.get_attribute("#rows", "data-shown") == str(base.format_failures + base.content_failures)
        browser.close()
    assert errors == []
