"""The report pages in headless Chromium (Debian's `chromium`, driven by Playwright with the system binary; no
test downloads a browser). Each page is loaded from file:// and must: log no console error, draw its charts,
filter and page its rows, and run nothing that the data carries. A screenshot of each is kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from report_runs import HOSTILE, add_adapter, answer_v2, climb_label, climb_qa

from rungwise.report.compare_html import write_compare
from rungwise.report.html import write_run_report
from rungwise.store import Store

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None and os.environ.get("CI"):
        pytest.fail("CI must run the report's browser tests: .ci/run installs Debian's chromium package")
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH: install Debian's chromium package (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
    with sync_api.sync_playwright() as p:
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


def off_loop(func: Callable[..., Any], *args: Any) -> Any:
    """Run `func` in a thread: a climb runs its own asyncio loop, and Playwright's sync API holds this thread's."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(func, *args).result()


class Watched:
    """A page that records console errors, page errors, dialogs and every request that is not the file itself."""

    def __init__(self, browser: Any, path: Path, width: int = 1300) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.resolve().as_uri()
        self.page.on("request", lambda r: None if r.url == self.url else self.requests.append(r.url))
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready='1']")

    def shown(self) -> int:
        return int(self.page.get_attribute("#rows", "data-shown") or -1)

    def select(self, selector: str, label: str) -> int:
        self.page.select_option(selector, label=label)
        return self.shown()

    def search(self, text: str) -> int:
        self.page.fill("#q", text)
        self.page.wait_for_timeout(250)  # the search box waits 120 ms for typing to stop
        return self.shown()

    def clean(self) -> None:
        pwned = self.page.evaluate("window.__pwned === undefined")
        assert self.errors == [] and self.dialogs == [] and self.requests == [] and pwned, \
            (self.errors, self.dialogs, self.requests)
        # nothing from the data became an element: no img, no script but the page's two
        assert self.page.locator("img").count() == 0
        assert self.page.locator("script").count() == 2

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(path.with_name(path.stem + "-first-screen.png")))  # what a reader sees first
        return path


def test_the_dialog_watch_works(browser: Any, tmp_path: Path) -> None:
    """The negative control: a page that does run a hostile string is caught."""
    (tmp_path / "bad.html").write_text("<script>alert(1)</script>")
    page = Watched.__new__(Watched)
    page.dialogs = []
    p = browser.new_page()
    p.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    p.goto((tmp_path / "bad.html").as_uri())
    assert page.dialogs == ["1"]
    p.close()


def test_climb_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = off_loop(climb_label, tmp_path, db)
    add_adapter(db, result, tmp_path / "route")
    path = write_run_report(Store(db), result.run_id, tmp_path / "report.html")
    w = Watched(browser, path)
    page = w.page
    # the charts are drawn: one ladder point and one cost point per variant, a stacked bar per variant
    assert page.locator("svg.chart-ladder circle.point").count() == 3
    assert page.locator("svg.chart-cost circle.point").count() == 3
    assert page.locator("svg.chart-failures g.variant").count() == 3
    assert page.locator("svg.chart-ladder g.target line").count() == 1
    assert "stale" in page.inner_text("table.adapters")
    # rows: 60 in pages of 50
    assert w.shown() == 60 and page.locator("#rows-body tr").count() == 50
    page.click("#next")
    assert page.locator("#rows-body tr").count() == 10 and "rows 51-60 of 60" in page.inner_text("#page-info")
    # filters change the visible rows
    baseline = result.variants[0]
    assert w.select("#kind", "failures only") == 60 - round(baseline.score * 60) or w.shown() > 0
    fails = w.select("#variant", "baseline")
    assert fails == baseline.format_failures + baseline.content_failures
    assert w.select("#kind", "format failures") == baseline.format_failures
    assert w.select("#kind", "content failures") == baseline.content_failures
    page.click("#reset")
    assert w.shown() == 60
    assert w.search("ticket 13:") == 1
    assert w.search("no such text anywhere") == 0
    page.click("#reset")
    # rows prompt gets right and baseline gets wrong (the fake answers both the same: none)
    w.select("#va", "prompt")
    assert w.select("#vb", "baseline") == 0
    assert w.select("#va", "(none)") == 60
    # hostile inputs and outputs are shown as text, and ran nothing
    page.click("#reset")
    assert w.search("alert(1)") > 0
    text = page.inner_text("#rows-body")
    for hostile in HOSTILE[:3]:
        assert hostile in text
    page.click("#reset")
    w.clean()
    w.screenshot("climb-report.png")
    page.close()


def test_rag_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = off_loop(climb_qa, tmp_path, db)
    w = Watched(browser, write_run_report(Store(db), result.run_id, tmp_path / "qa.html"))
    assert w.page.locator("svg.chart-ladder circle.point").count() == len(result.variants)
    assert "recall@1" in w.page.inner_text("table.rag")
    assert w.search(HOSTILE[1]) == 1 and HOSTILE[1] in w.page.inner_text("#rows-body")
    w.clean()
    w.screenshot("rag-report.png")
    w.page.close()


def test_compare_page_in_chromium(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    a = off_loop(climb_label, tmp_path, db)
    b = off_loop(climb_label, tmp_path, db, answer_v2, "v2")
    w = Watched(browser, write_compare(Store(db), a.run_id, b.run_id, tmp_path / "compare.html"))
    page = w.page
    assert page.locator("svg.chart-diff circle.point").count() == 3
    total = w.shown()
    worse = w.select("#dir", "right → wrong")
    better = w.select("#dir", "wrong → right")
    assert total == worse + better and worse > 0 and better > 0
    only = w.select("#variant", "baseline")
    assert 0 < only < better or only == better
    w.select("#dir", "both")
    assert w.search("alert(1)") > 0
    cells = page.locator("#rows-body tr").first.locator("td.out")
    assert cells.count() == 2  # both outputs, side by side
    w.clean()
    w.select("#variant", "every variant")
    w.search("")
    w.screenshot("compare-report.png")
    page.close()


#: the boxes (x, y, width, height, on the page) of every element `selector` matches
_BOXES = """sel => [...document.querySelectorAll(sel)].map(e => { const r = e.getBoundingClientRect();
  return [r.x, r.y, r.width, r.height, e.textContent]; })"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_a_full_ladder_fits_at_1400_px(browser: Any, tmp_path: Path) -> None:
    """A banking77 climb with every rung, read at 1400 px: the ladder chart shows every name whole (the shipped
    one in bold), no label of the quality-against-cost chart overlaps another or a point, and the cost table
    does not scroll sideways."""
    from ladder_result import banking77_result

    from rungwise.record.stored import ClimbReport, EvalRow, RunMeta, VariantRows
    from rungwise.report.html import write_climb

    r = banking77_result()
    record = ClimbReport(run=RunMeta(id=r.run_id, task=r.task, model=r.model), result=r,
                         rows=[EvalRow(id="e1", input="Where is my card?", target="card_arrival")],
                         variants={v.name: VariantRows(output=["card_arrival"], score=[1.0], failure=[None])
                                   for v in r.variants})
    w = Watched(browser, write_climb(record, tmp_path / "banking77.html"), width=1400)
    page = w.page
    ladder = page.locator("svg.chart-ladder").bounding_box()
    names = page.evaluate(_BOXES, "svg.chart-ladder g.variant > text:not(.muted)")
    assert len(names) == len(r.variants) and "fewshot-knn-constrained (shipped)" in [n[4] for n in names]
    lines = page.evaluate(_BOXES, "svg.chart-ladder line.interval")
    plot_left = min(line[0] for line in lines)
    for x, _, width, _, text in names:  # inside the chart, left of every interval
        assert x >= ladder["x"] and x + width <= plot_left, text
    scores = page.evaluate(_BOXES, "svg.chart-ladder g.variant > text.muted")
    points = page.evaluate(_BOXES, "svg.chart-ladder circle.point")
    assert not any(_overlap(s, p) for s in scores for p in points)  # 92.5% beside the point near 100%, not on it
    chart = page.locator("svg.chart-cost").bounding_box()
    labels = page.evaluate(_BOXES, "svg.chart-cost text.label")
    dots = page.evaluate(_BOXES, "svg.chart-cost circle.point")
    assert {t for label in labels for t in label[4].split(", ")} == {v.name for v in r.variants}
    for i, a in enumerate(labels):
        assert chart["x"] <= a[0] and a[0] + a[2] <= chart["x"] + chart["width"], a[4]
        assert not any(_overlap(a, b) for b in labels[i + 1:]), a[4]
        assert not any(_overlap(a, d) for d in dots), a[4]
    scroll = page.evaluate("() => { const s = document.querySelector('table.costs').parentElement; "
                           "return [s.scrollWidth, s.clientWidth]; }")
    assert scroll[0] <= scroll[1]
    w.clean()
    w.screenshot("ladder-1400px.png")
    page.close()
