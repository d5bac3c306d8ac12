"""The gate: significant regressions, the non-inferiority margin, underpowered evals, named baselines, JUnit XML,
and `rungwise runs` filters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from rungwise.engine.compare import VariantDiff
from rungwise.engine.gate import gate, judge
from rungwise.engine.job import ClimbOptions, climb
from rungwise.errors import StoreError
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.store import Store

from helpers import LABEL_TOML, write_task

TOML = LABEL_TOML + "[checks]\nnear_duplicates = false\n[eval]\nsample = 1000\n"


def _task(tmp_path: Path, rows: int, instruction: str = "Which team?") -> Path:
    eval_rows = [{"input": f"question {i}", "target": "billing"} for i in range(rows)]
    return write_task(tmp_path / "t", TOML.replace("Which team?", instruction), [{"input": "x", "target": "billing"}],
                      eval_rows)


def _row_number(r: Request) -> int:
    return int(r.messages[-1].content.split()[-1])


def _wrong_on(rows: set[int]) -> FakeModel:
    return FakeModel(lambda r: "sales" if _row_number(r) in rows else "billing", name=f"wrong-{len(rows)}")


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}  # a table as wide as its rows
    return subprocess.run([sys.executable, "-m", "rungwise", *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=env)


def _diff(n: int, difference: float, low: float, high: float, regressed: bool = False) -> VariantDiff:
    return VariantDiff("v", n, 0.9, 0.9 + difference, difference, low, high, 0.5, "m", regressed, False)


def test_judge_reads_the_interval_against_the_margin() -> None:
    assert judge(_diff(40, -0.5, -0.6, -0.4, regressed=True), 0.02).status == "regressed"
    assert judge(_diff(40, -0.5, -0.6, -0.4, regressed=True), None).status == "regressed"
    assert judge(_diff(40, 0.0, -0.09, 0.09), None).status == "ok"  # no margin: significant drops only
    assert judge(_diff(400, -0.0025, -0.014, 0.007), 0.02).status == "ok"
    assert judge(_diff(40, -0.05, -0.15, 0.04), 0.02).status == "inferior"
    short = judge(_diff(40, 0.0, -0.09, 0.09), 0.02)
    assert short.status == "underpowered" and short.rows_needed == 810  # 40 x (0.09 / 0.02)^2


def test_a_changed_prompt_that_costs_accuracy_fails_the_gate(tmp_path: Path) -> None:
    folder = _task(tmp_path, 40)
    db = tmp_path / "s.db"

    def reads_the_prompt(r: Request) -> str:
        text = " ".join(m.content for m in r.messages)
        return "billing" if "Which team?" in text or _row_number(r) % 2 == 0 else "sales"

    base = climb(folder, FakeModel(reads_the_prompt), ClimbOptions(rungs=["baseline"], store_path=db))
    _task(tmp_path, 40, "Route this message.")  # the new prompt template: half the rows now fail
    outcome = gate(folder, base.run_id, FakeModel(reads_the_prompt), store_path=db, margin=0.02)
    (verdict,) = outcome.verdicts
    assert verdict.status == "regressed" and verdict.diff.difference == pytest.approx(-0.5)
    assert not outcome.passed and "1 regressed" in outcome.verdict_line()
    assert outcome.model is not None and not outcome.model.changed and "another model" not in outcome.verdict_line()


def test_the_gate_says_when_the_model_is_not_the_baselines(tmp_path: Path) -> None:
    folder = _task(tmp_path, 20)
    db = tmp_path / "s.db"
    base = climb(folder, _wrong_on(set()), ClimbOptions(rungs=["baseline"], store_path=db))
    outcome = gate(folder, base.run_id, _wrong_on({1}), store_path=db)
    assert outcome.model is not None and outcome.model.changed
    assert "on another model than the baseline's" in outcome.verdict_line()
    assert outcome.to_dict()["model"]["model_b"] != outcome.to_dict()["model"]["model_a"]


def test_a_small_eval_cannot_rule_out_the_margin_and_says_how_many_rows(tmp_path: Path) -> None:
    folder = _task(tmp_path, 40)
    db = tmp_path / "s.db"
    base = climb(folder, _wrong_on({1, 2, 3}), ClimbOptions(rungs=["baseline"], store_path=db))
    plain = gate(folder, base.run_id, _wrong_on({1, 2, 3}), store_path=db)
    assert plain.passed and plain.verdicts[0].status == "ok"  # without a margin: nothing significant
    short = gate(folder, base.run_id, _wrong_on({1, 2, 3}), store_path=db, margin=0.02)
    (verdict,) = short.verdicts
    assert verdict.status == "underpowered" and verdict.rows_needed is not None and verdict.rows_needed > 40
    assert not short.passed and "1 underpowered" in short.verdict_line()
    allowed = gate(folder, base.run_id, _wrong_on({1, 2, 3}), store_path=db, margin=0.02, allow_underpowered=True)
    assert allowed.passed and "underpowered, allowed" in allowed.verdict_line()
    worse = gate(folder, base.run_id, _wrong_on({1, 2, 3, 4, 5}), store_path=db, margin=0.02)
    assert worse.verdicts[0].status == "inferior" and not worse.verdicts[0].diff.regressed


def test_a_large_eval_rules_out_the_margin(tmp_path: Path) -> None:
    folder = _task(tmp_path, 600)
    db = tmp_path / "s.db"
    base = climb(folder, _wrong_on(set()), ClimbOptions(rungs=["baseline"], store_path=db))
    outcome = gate(folder, base.run_id, _wrong_on({7}), store_path=db, margin=0.02)  # one row flipped
    (verdict,) = outcome.verdicts
    assert verdict.status == "ok" and verdict.diff.n == 600 and verdict.diff.low > -0.02
    assert outcome.passed


def test_baselines_are_named_on_purpose_and_the_gate_uses_them(tmp_path: Path) -> None:
    folder = _task(tmp_path, 40)
    db = tmp_path / "s.db"
    with pytest.raises(StoreError, match="has no baseline.*rungwise baseline set"):
        gate(folder, None, FakeModel(), store_path=db)
    first = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db))
    second = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db, resume=False))
    shown = _cli(tmp_path, "baseline", "show", str(folder), "--store", str(db))
    assert shown.returncode == 1 and "no baseline yet" in shown.stdout
    for run in (first.run_id, second.run_id):
        done = _cli(tmp_path, "baseline", "set", str(folder), run, "--store", str(db))
        assert done.returncode == 0 and run in done.stdout, done.stderr
    shown = _cli(tmp_path, "baseline", "show", str(folder), "--store", str(db))
    assert shown.returncode == 0 and shown.stdout.index(second.run_id) < shown.stdout.index(first.run_id)
    assert "current" in shown.stdout
    with Store(db) as s:
        assert s.baseline("route") == second.run_id
        other = s.create_run("other", "f", "h", "m", {})
        running = s.create_run("route", "f", "h", "m", {})
    wrong = _cli(tmp_path, "baseline", "set", str(folder), other, "--store", str(db))
    assert wrong.returncode == 2 and "not 'route'" in wrong.stderr
    unfinished = _cli(tmp_path, "baseline", "set", str(folder), running, "--store", str(db))
    assert unfinished.returncode == 2 and "not finished" in unfinished.stderr
    assert gate(folder, None, FakeModel(), store_path=db).baseline_run == second.run_id


def test_the_store_refuses_a_baseline_of_another_task_or_unfinished_from_python(tmp_path: Path) -> None:
    """The checks `rungwise baseline set` makes live in Store.set_baseline: Python gets them too."""
    folder = _task(tmp_path, 5)
    db = tmp_path / "s.db"
    done = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db))
    with Store(db) as s:
        other = s.create_run("other", "f", "h", "m", {})
        s.finish_run(other, {})
        running = s.create_run("route", "f", "h", "m", {})
        with pytest.raises(StoreError, match=f"^Run {other} is a run of task 'other', not 'route'.$"):
            s.set_baseline("route", other)
        with pytest.raises(StoreError, match=f"^Run {running} is running, not finished") as unfinished:
            s.set_baseline("route", running)
        assert "\n" not in str(unfinished.value)
        with pytest.raises(StoreError, match="No run 'nope'"):
            s.set_baseline("route", "nope")
        assert s.baseline("route") is None  # nothing refused was written
        promoted = s.set_baseline("route", done.run_id[:-1])  # a prefix is enough, as on the command line
        assert promoted.id == done.run_id and s.baseline("route") == done.run_id


def test_the_gate_applies_the_tasks_deadlines_and_its_own(tmp_path: Path) -> None:
    """gate() takes the task's [model] timeout_s/retries, as climb() does; its own arguments win."""
    folder = write_task(tmp_path / "t", TOML + "[model]\ntimeout_s = 7\nretries = 1\n",
                        [{"input": "x", "target": "billing"}], [{"input": f"question {i}", "target": "billing"} for i in range(5)])
    db = tmp_path / "s.db"
    base = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db))
    seen: list[tuple[float, int]] = []

    class Recording(FakeModel):
        def set_deadlines(self, timeout_s: float | None = None, retries: int | None = None) -> None:
            seen.append((timeout_s, retries))  # type: ignore[arg-type]

    gate(folder, base.run_id, Recording(), store_path=db)
    gate(folder, base.run_id, Recording(), store_path=db, retries=0)
    assert seen == [(7.0, 1), (7.0, 0)]


def test_gate_cli_json_and_junit(tmp_path: Path) -> None:
    folder = _task(tmp_path, 40)
    db = str(tmp_path / "s.db")
    base = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db))
    assert _cli(tmp_path, "baseline", "set", str(folder), base.run_id, "--store", db).returncode == 0
    # the CLI's fake model echoes the input, as the baseline's did: no change, but 40 rows cannot rule out 2 points
    junit = tmp_path / "out" / "gate.xml"
    proc = _cli(tmp_path, "gate", str(folder), "--model", "fake", "--store", db, "--margin", "0.02", "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "UNDERPOWERED" in proc.stdout and "rows would rule out the margin" in proc.stdout
    assert "gate failed" in proc.stderr and "1 underpowered" in proc.stderr
    suite = ElementTree.parse(junit).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "1" and suite.get("failures") == "1"
    (case,) = suite.findall("testcase")
    assert case.get("name") == "baseline" and case.find("failure").get("type") == "underpowered"  # type: ignore[union-attr]

    proc = _cli(tmp_path, "gate", str(folder), "--model", "fake", "--store", db, "--margin", "0.02",
                "--allow-underpowered", "--json", "--junit", str(junit))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["passed"] and data["baseline_run"] == base.run_id and data["margin"] == 0.02
    assert [v["status"] for v in data["variants"]] == ["underpowered"] and data["variants"][0]["rows_needed"] > 40
    assert "gate passed" in proc.stderr
    assert ElementTree.parse(junit).getroot().get("failures") == "0"


def test_runs_filters_by_task_model_and_status(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    with Store(db) as s:
        a = s.create_run("route", "f", "h", "fake:Alpha_1", {})
        b = s.create_run("route", "f", "h2", "fake:beta", {})
        c = s.create_run("other", "f", "h3", "fake:beta", {})
        s.finish_run(b, {"shipped": "prompt", "variants": [{"name": "prompt", "score": 0.875}]})
        assert [r.id for r in s.list_runs(task="route")] == [b, a]
        assert [r.id for r in s.list_runs(model="alpha_")] == [a]
        assert [r.id for r in s.list_runs(model="beta", status="running")] == [c]
        assert s.list_runs(model="%") == []
    proc = _cli(tmp_path, "runs", "--store", db, "--task", "route", "--status", "done")
    assert proc.returncode == 0, proc.stderr
    assert b in proc.stdout and a not in proc.stdout and c not in proc.stdout
    assert "prompt" in proc.stdout and "87.5%" in proc.stdout


def test_the_gate_scores_every_row_of_a_baseline_that_stopped_early(tmp_path: Path) -> None:
    """A baseline climbed with early stop keeps a hopeless variant's first 20 rows; the gate scores every variant
    on every row (a regression is never stopped into a weaker test) and compares on the rows both runs scored."""
    folder = _task(tmp_path, 60)
    db = tmp_path / "s.db"

    def answer(r: Request) -> str:  # the baseline rung (no system prompt) never answers a label
        return "billing" if r.messages[0].role == "system" else "I am not sure"

    base = climb(folder, FakeModel(answer), ClimbOptions(store_path=db))
    assert base.variants[0].name == "baseline" and base.variants[0].n == 20 and base.variants[0].stopped
    result = gate(folder, base.run_id, FakeModel(answer), store_path=db)
    assert all(v.n == 60 and v.stopped is None for v in result.result.variants)
    by_name = {v.diff.variant: v for v in result.verdicts}
    assert by_name["baseline"].diff.n == 20 and by_name["prompt"].diff.n == 60
    assert "early_stop" not in Store(db).get_run(result.result.run_id).settings


def test_baseline_set_says_when_variants_stopped_early(tmp_path: Path) -> None:
    folder = _task(tmp_path, 60)
    db = tmp_path / "s.db"
    base = climb(folder, FakeModel(lambda r: "billing" if r.messages[0].role == "system" else "?"),
                 ClimbOptions(store_path=db))
    promoted = _cli(tmp_path, "baseline", "set", str(folder), base.run_id, "--store", str(db))
    assert promoted.returncode == 0, promoted.stderr
    assert "baseline (20 rows) stopped early" in promoted.stdout and "--score-every-row" in promoted.stdout
