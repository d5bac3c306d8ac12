"""The typed record is the one seam between a climb and every renderer: its published schema is the model's,
any record survives a JSON round trip unchanged, a version-1 record reads through the migration, and `rungwise
show RUN` prints exactly what the live climb printed, warnings included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rungwise.record.schema import (
    AdapterRecord,
    ClimbRecord,
    ComparisonRecord,
    CostRecord,
    DecisionRecord,
    RungVerdictRecord,
    VariantRecord,
)
from rungwise.record.stored import REPORT_VERSION, ClimbReport, EvalRow, RunMeta, VariantRows, load_report, migrate
from rungwise.store import Store

from e2e.hostile_server import HostileServer
from helpers import LABEL_TOML_EXACT, write_task

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "record.schema.json"


def test_the_published_schema_is_the_models() -> None:
    published = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert published == ClimbReport.model_json_schema(), (
        "docs/record.schema.json is out of date: python -m rungwise.record.stored > docs/record.schema.json "
        "(and bump REPORT_VERSION with a migration when a stored record's shape changed)")


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
maybe = st.none() | finite
text = st.text(max_size=12)
comparison = st.builds(ComparisonRecord, a=text, b=text, difference=maybe, low=maybe, high=maybe, p_value=maybe,
                       method=text, significant=st.booleans(), n=st.integers(0, 10**6))
variant = st.builds(VariantRecord, name=text, rung=text, n=st.integers(0, 10**6), score=maybe, low=maybe, high=maybe,
                    extras=st.dictionaries(text, maybe, max_size=3), stopped=st.none() | st.dictionaries(text, finite, max_size=2),
                    cost=st.none() | st.builds(CostRecord, variant=text, cost_per_call=maybe, cost_per_month=maybe, currency=text),
                    adapters=st.lists(st.builds(AdapterRecord, name=text, meta=st.dictionaries(text, text | finite, max_size=2)),
                                      max_size=2))
decision = st.builds(DecisionRecord, shipped=st.none() | text, minimum_detectable_difference=maybe,
                     rungs=st.lists(st.builds(RungVerdictRecord, rung=text, best=text, score=maybe,
                                              against=st.none() | comparison), max_size=3),
                     comparisons=st.lists(comparison, max_size=3), recommendation=text)
record = st.builds(ClimbRecord, run_id=text, task=text, model=text, target=finite, variants=st.lists(variant, max_size=4),
                   decision=st.none() | decision, stale_adapters=st.dictionaries(text, text, max_size=2),
                   served_model_changed=st.none() | text, server_failures=st.integers(0, 10**6))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(record)
def test_any_record_round_trips_through_its_json(r: ClimbRecord) -> None:
    report = ClimbReport(run=RunMeta(id=r.run_id, task=r.task, model=r.model), result=r, rows=[EvalRow(id="e")],
                         variants={"v": VariantRows(output=[None], score=[None], failure=[None])})
    text = report.dumps()
    json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict JSON: no NaN
    assert ClimbReport.model_validate(migrate(REPORT_VERSION, json.loads(text))) == report


def test_a_version_1_record_reads_through_the_migration() -> None:
    v1 = {"version": 1, "run": {"id": "r1", "task": "route", "model": "fake:fake"},
          "result": {"task": "route", "model": "fake:fake", "target": 0.8, "metric": "accuracy", "n_eval": 3,
                     "shipped": "prompt", "recommendation": "Ship 'prompt'.",
                     "budget": {"max_tokens": 9, "stop": ["\n"], "reason": "the longest label"},
                     "variants": [{"name": "prompt", "rung": "prompt", "probe": False, "n": 3, "score": 1.0, "low": 0.4,
                                   "high": 1.0, "method": "wilson", "format_failures": 0, "content_failures": 0,
                                   "mean_prompt_tokens": 40.0, "mean_completion_tokens": 1.0, "latency_p50_s": 0.1,
                                   "latency_p95_s": 0.1, "seconds_per_example": 0.1, "extras": {},
                                   "cost": None, "adapters": []}],
                     "decision": {"shipped": "prompt", "rungs": [], "diagnosis": {"format_share": 0.0,
                                  "knowledge_gap": None, "behavioural_gap": False, "notes": []},
                                  "eval_too_small": True, "minimum_detectable_difference": None,
                                  "recommendation": "Ship 'prompt'.", "comparisons": []},
                     "calls": 3, "cache_hits": 0, "resumed": 0, "server_failures": 1},
          "rows": [{"id": "eval:L1"}], "variants": {"prompt": {"output": ["billing"], "score": [1.0], "failure": [None]}}}
    report = ClimbReport.model_validate(migrate(1, v1))
    assert report.version == REPORT_VERSION and report.result.run_id == "r1"
    assert report.result.variant("prompt") is not None and report.result.server_failures == 1
    assert report.result.budget.max_tokens == 9


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "120", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "rungwise", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)


def test_show_prints_what_the_live_climb_printed(tmp_path: Path) -> None:
    """Against a server whose answers are not chat completions on some rows: the "server failed N rows" warning
    and the token-count basis (no tokenizer at the endpoint) are in the stored record, not only in the live run."""
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, [{"input": "x", "target": "billing"}],
                        [{"input": f"question {i}", "target": "billing"} for i in range(4)])
    db = str(tmp_path / "s.db")
    with HostileServer("content_number") as server:
        live = _cli(tmp_path, "climb", str(folder), "--model", server.base_url, "--model-name", "m", "--store", db,
                    "--rungs", "baseline,prompt", "--all", "--timeout", "2", "--retries", "0")
    assert live.returncode == 0, live.stderr
    assert "the server failed" in live.stdout
    with Store(db) as store:
        (run,) = store.list_runs()
        assert load_report(store, run.id).result.server_failures > 0
    shown = _cli(tmp_path, "show", run.id, "--store", db)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == live.stdout
