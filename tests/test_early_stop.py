"""Early stopping for futility: the looks, the bound's error rate, and a climb that stops a hopeless rung."""

from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.judge import early_stop
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.progress import ProgressEvent
from rungwise.store import Store

from helpers import LABEL_TOML_EXACT, write_task

LABELS = ["billing", "technical", "sales"]


def test_looks_and_their_order() -> None:
    assert early_stop.looks_for(200) == [20, 50, 100, 200]
    assert early_stop.looks_for(30) == [20, 30] and early_stop.looks_for(20) == [20] and early_stop.looks_for(5) == [5]
    rows = list(range(200))
    order = early_stop.look_order(rows, 0)
    assert sorted(order) == rows and order == early_stop.look_order(rows, 0)
    assert order != early_stop.look_order(rows, 1)
    assert order[:20] != rows[:20]  # a random sample before each look, not the head of the file


def test_upper_bound_is_exact_for_pass_fail_and_hoeffding_for_graded() -> None:
    x = [1.0] * 5 + [0.0] * 15
    high = early_stop.upper_bound(x, binary=True, alpha=0.01)
    assert high == pytest.approx(0.532106, abs=1e-6)  # Clopper-Pearson, 5 of 20, one-sided 99%: Beta(6, 15) at 0.99
    # at that p, 5 or fewer successes in 20 happen with probability alpha
    assert sum(comb(20, i) * high**i * (1 - high) ** (20 - i) for i in range(6)) == pytest.approx(0.01, rel=1e-6)
    assert early_stop.upper_bound([0.0] * 20, binary=True, alpha=0.01) == pytest.approx(1 - 0.01 ** (1 / 20))
    assert early_stop.upper_bound([1.0] * 20, binary=True, alpha=0.01) == 1.0
    graded = [0.3] * 20
    assert early_stop.upper_bound(graded, binary=False, alpha=0.01) == pytest.approx(0.3 + np.sqrt(np.log(100) / 40))
    assert early_stop.upper_bound([], binary=True, alpha=0.01) == 1.0


@pytest.mark.parametrize("binary", [True, False])
def test_a_variant_that_meets_the_target_is_rarely_stopped(binary: bool) -> None:
    """The procedure's one error: stopping a variant whose true score is the target. Simulated over 4,000 climbs of
    200 rows, it happens at most ALPHA (1%) of the time; a hopeless variant stops at the first look every time."""
    rng = np.random.default_rng(0)
    target, n, trials = 0.85, 200, 4000

    def stops(draw: np.ndarray) -> bool:
        return any(early_stop.futility(draw[:k], target, n, binary=binary) is not None
                   for k in early_stop.looks_for(n)[:-1])

    def sample(mean: float) -> np.ndarray:
        if binary:
            return (rng.random(n) < mean).astype(float)
        return rng.beta(mean * 4, (1 - mean) * 4, n)  # graded scores in [0, 1] with this mean

    wrongly = sum(stops(sample(target)) for _ in range(trials)) / trials
    assert wrongly <= early_stop.ALPHA
    hopeless = [early_stop.futility(sample(0.05)[:20], target, n, binary=binary) for _ in range(200)]
    assert all(h is not None and h.rows == 20 and h.upper < target for h in hopeless)


def _task(tmp_path: Path, rows: int) -> Path:
    evals = [{"input": f"message number {i} about {LABELS[i % 3]}", "target": LABELS[i % 3]} for i in range(rows)]
    train = [{"input": f"train message {i}", "target": LABELS[i % 3]} for i in range(6)]
    return write_task(tmp_path / "route", LABEL_TOML_EXACT, train, evals)


def _answer(request: Request) -> str:
    """The baseline (no system prompt) never answers a label; the prompt rung always answers the right one."""
    text = request.messages[-1].content
    if request.messages[0].role != "system":
        return "I am not sure"
    return next(label for label in LABELS if text.endswith(label))


def test_a_climb_stops_a_hopeless_rung_at_the_first_look(tmp_path: Path) -> None:
    folder = _task(tmp_path, 120)
    events: list[ProgressEvent] = []
    model = FakeModel(_answer)
    result = climb(folder, model, ClimbOptions(store_path=tmp_path / "s.db"), progress=events.append)
    base, prompt = result.variants[0], result.variants[1]
    assert (base.name, prompt.name) == ("baseline", "prompt") and result.shipped == "prompt"
    assert base.n == 20 and base.score == 0.0 and base.stopped is not None
    assert base.stopped["rows"] == 20 and base.stopped["of"] == 120 and base.stopped["upper"] < 0.8
    assert prompt.n == 120 and prompt.stopped is None  # the shipped variant scores every row
    # the 20 rows are the seeded random sample before the first look, in eval order
    store = Store(tmp_path / "s.db")
    ids = [r.example_id for r in store.results(result.run_id, "baseline")]
    eval_ids = [r.example_id for r in result.outcomes[1].rows]  # the prompt rung's: every row, in eval order
    assert ids == [i for i in eval_ids if i in set(ids)] and ids != eval_ids[:20]
    # the gain is measured on the rows both scored
    assert result.decision is not None
    gain = result.decision.rungs[1].against
    assert gain is not None and gain.n == 20 and gain.difference == 1.0 and result.decision.rungs[1].verdict == "gain"
    # what the user sees: why the baseline has 20 rows, in the result's JSON and the progress totals
    assert result.to_dict()["variants"][0]["stopped"]["rows"] == 20
    assert "a significant gain over 'baseline' (+100.0 points, p=1.91e-06 on the 20 rows both scored)" in result.recommendation
    baseline_events = [e for e in events if e.stage == "calls" and e.name == "baseline"]
    assert {e.total for e in baseline_events} == {120} and baseline_events[-1].done == 20
    assert baseline_events[-1].stopped == "cannot reach the target" and not any(e.stopped for e in baseline_events[:-1])
    assert not any(e.stopped for e in events if e.name == "prompt")
    assert result.stats.calls == 20 + 120 and len(model.calls) == 140
    assert store.get_run(result.run_id).settings["early_stop"] == early_stop.settings()


def test_a_log_says_once_which_variant_stopped_and_which_finished(tmp_path: Path) -> None:
    from rungwise.progress import PlainProgress

    lines: list[str] = []
    climb(_task(tmp_path, 120), FakeModel(_answer), ClimbOptions(store_path=tmp_path / "s.db"),
          progress=PlainProgress(lines.append))
    calls = [line for line in lines if line.startswith(("baseline:", "prompt:"))]
    assert calls == ["baseline: started, 120 rows", "baseline: stopped after 20 of 120 rows (cannot reach the target)",
                     "prompt: started, 120 rows", calls[-1]]
    assert calls[-1].startswith("prompt: 120/120 done in ")


def test_early_stop_off_scores_every_row_and_is_another_run(tmp_path: Path) -> None:
    folder = _task(tmp_path, 60)
    db = tmp_path / "s.db"
    stopped = climb(folder, FakeModel(_answer), ClimbOptions(store_path=db))
    full = climb(folder, FakeModel(_answer), ClimbOptions(store_path=db, early_stop=False))
    assert stopped.variants[0].n == 20 and full.variants[0].n == 60 and full.variants[0].stopped is None
    assert full.run_id != stopped.run_id and "early_stop" not in Store(db).get_run(full.run_id).settings
    # the same climb again stops at the same look on the same rows, from the cache
    again = climb(folder, FakeModel(_answer), ClimbOptions(store_path=db))
    rows = {r.example_id for r in again.outcomes[0].rows}
    assert again.stats.calls == 0 and rows == {r.example_id for r in stopped.outcomes[0].rows} and len(rows) == 20


def test_the_terminal_and_the_report_say_why_a_variant_has_fewer_rows(tmp_path: Path) -> None:
    from rich.console import Console

    from rungwise.record.stored import load_report
    from rungwise.report.html import render_climb
    from rungwise.report.terminal import print_climb

    folder = _task(tmp_path, 60)
    result = climb(folder, FakeModel(_answer), ClimbOptions(store_path=tmp_path / "s.db"))
    console = Console(record=True, width=200)
    print_climb(result.record(), console)
    text = console.export_text()
    assert "0.0% [0.0%, 16.1%] (20 rows)" in text
    assert "baseline stopped after 20 of 60 rows: it cannot reach the target of 80%" in text
    assert "gain (+100.0, p=1.9e-06, 20 rows)" in text and "--score-every-row" in text
    page = render_climb(load_report(Store(tmp_path / "s.db"), result.run_id))
    assert "Stopped early" in page and "<code>baseline</code> stopped after 20 of 60 rows" in page


def test_a_learning_curves_base_variant_scores_every_row(tmp_path: Path) -> None:
    """With --curve, the kNN few-shot variant is the largest point of its curve: every point on the same rows, so it
    never stops early, while the fixed few-shot variant beside it does."""
    evals = [{"input": f"message number {i} about {LABELS[i % 3]}", "target": LABELS[i % 3]} for i in range(60)]
    train = [{"input": f"a train message {i} on {LABELS[i % 3]}", "target": LABELS[i % 3]} for i in range(30)]
    folder = write_task(tmp_path / "route", LABEL_TOML_EXACT, train, evals)
    result = climb(folder, FakeModel(lambda r: "I am not sure"),
                   ClimbOptions(rungs=["fewshot"], curve=True, store_path=tmp_path / "s.db", cache_dir=tmp_path / "c"))
    n = {v.name: (v.n, bool(v.stopped)) for v in result.variants}
    assert n["fewshot-fixed"] == (20, True) and n["fewshot-knn"] == (60, False)
    assert all(rows == 60 and not stopped for name, (rows, stopped) in n.items() if name.startswith("fewshot-knn@"))
