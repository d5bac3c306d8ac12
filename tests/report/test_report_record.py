"""The stored report record (round trip, versions, older runs) and the HTML it renders, without a browser."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from report_runs import HOSTILE, add_adapter, climb_label, climb_qa
from typer.testing import CliRunner

from rungwise.cli import app
from rungwise.errors import StoreError
from rungwise.outputs import finite
from rungwise.record.schema import ClimbRecord
from rungwise.record.stored import REPORT_VERSION, base_of, dumps_for_script, load_report
from rungwise.report.charts import pareto
from rungwise.report.compare_html import render_compare
from rungwise.report.html import render_climb
from rungwise.store import Store


def test_a_finished_climb_stores_its_record(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = climb_label(tmp_path, db)
    store = Store(db)
    report = load_report(store, result.run_id[:12])
    assert report.version == REPORT_VERSION and not report.rebuilt
    # what was stored is the climb's own result, typed: every key of to_dict() kept, every number as it was
    assert report.result == ClimbRecord.model_validate(finite(result.to_dict()))
    assert report.result.model_dump(mode="json").items() >= json.loads(json.dumps(finite(result.to_dict()))).items()
    assert len(report.rows) == 60 and report.rows[3].input.endswith(HOSTILE[0])
    assert list(report.variants) == ["baseline", "prompt", "prompt-constrained"]
    base = report.variants["baseline"]
    by_id = {r.example_id: r for r in store.results(result.run_id, "baseline")}
    stopped = result.variants[0].stopped  # below the target at a look: scored on the rows before it
    assert stopped is not None and len(by_id) == stopped["rows"] < 60
    for i, row in enumerate(report.rows):
        if row.id in by_id:
            assert base.output[i] == by_id[row.id].output and base.failure[i] == by_id[row.id].failure
        else:  # a row the variant did not score is empty in the record, never another row's answer
            assert base.output[i] is None and base.failure[i] is None
    assert "format" in base.failure and "content" in base.failure
    # the terminal renders the same ladder from the record
    again = report.result
    assert [v.name for v in again.variants] == [v.name for v in result.variants]
    assert again.recommendation == result.recommendation and again.decision is not None


def test_a_newer_record_and_a_missing_one(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = climb_label(tmp_path, db)
    store = Store(db)
    version, blob = store.load_report(result.run_id) or (0, "")
    store.save_report(result.run_id, REPORT_VERSION + 1, blob)
    with pytest.raises(StoreError, match="newer rungwise.*Upgrade rungwise"):
        load_report(store, result.run_id)
    # a run finished by a rungwise without records: rebuilt from its summary and results, inputs unknown
    store._conn.execute("DELETE FROM reports")
    rebuilt = load_report(store, result.run_id)
    scored = {r.example_id for r in store.results(result.run_id)}  # rebuilt from the rows some variant scored
    assert rebuilt.rebuilt and rebuilt.notes and len(rebuilt.rows) == len(scored) and rebuilt.rows[0].input is None
    prompt_ids = {r.example_id for r in store.results(result.run_id, "prompt")}
    assert all((o is not None) == (row.id in prompt_ids)
               for o, row in zip(rebuilt.variants["prompt"].output, rebuilt.rows, strict=True))
    assert "rows show their ids only" in render_climb(rebuilt)
    # an unfinished run has nothing to report yet
    running = store.create_run("route", "f", "h", "fake:x", {})
    with pytest.raises(StoreError, match="status 'running'.*resumes"):
        load_report(store, running)


def test_script_json_cannot_close_its_element() -> None:
    data = {"x": HOSTILE + ["a & b", "<!--", "]]>"]}
    text = dumps_for_script(data)
    assert "<" not in text and ">" not in text and "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == data


def test_page_escapes_everything_and_pins_its_script(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = climb_label(tmp_path, db)
    add_adapter(db, result, tmp_path / "route")
    page = render_climb(load_report(Store(db), result.run_id))
    for hostile in HOSTILE[:3]:
        assert hostile not in page
    assert not re.search(r"<(img|link|iframe|object|embed)\b", page)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "@import" not in page and "fetch(" not in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp.replace("&#x27;", "'") and "default-src 'none'" in csp.replace("&#x27;", "'")
    # the adapter, its staleness and fine-tuning's bill
    assert "stale: trained on another base model" in page and "45,000" in page
    assert page.count("<svg") >= 3


def test_rag_record_shows_recall_and_the_oracle(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    result = climb_qa(tmp_path, db)
    page = render_climb(load_report(Store(db), result.run_id))
    assert "recall@1" in page and "reciprocal_rank" in page and "oracle" in page
    assert "probes: references, not rungs" in page


def test_pareto_frontier() -> None:
    pts = [(1.0, 0.5, "a"), (2.0, 0.4, "b"), (3.0, 0.9, "c"), (0.5, 0.5, "d")]
    assert [n for _, _, n in pareto(pts)] == ["d", "c"]


def test_stale_base() -> None:
    assert base_of("embedded:SmolLM2:abcd1234+lora:ff") == "embedded:abcd1234"
    assert base_of("openai:http://x/v1:gpt") == "openai:http://x/v1:gpt"


def test_cli_report_show_and_compare(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    a = climb_label(tmp_path, db)
    from report_runs import answer_v2

    b = climb_label(tmp_path, db, answer_v2, "v2")
    runner = CliRunner()
    out = tmp_path / "out" / "r.html"
    res = runner.invoke(app, ["report", a.run_id, "-o", str(out), "--store", str(db)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and "<!DOCTYPE html>" in out.read_text()
    res = runner.invoke(app, ["show", a.run_id, "--store", str(db)])
    assert res.exit_code == 0 and "prompt-constrained" in res.output and "eval rows" in res.output
    res = runner.invoke(app, ["compare", a.run_id, b.run_id, "--store", str(db), "--report", str(tmp_path / "c.html")])
    assert res.exit_code == 0, res.output
    assert "right → wrong" in (tmp_path / "c.html").read_text()
    res = runner.invoke(app, ["climb", str(tmp_path / "route"), "--model", "fake", "--rungs", "baseline", "--store", str(db),
                              "--report", str(tmp_path / "climb.html")])
    assert res.exit_code == 0, res.output
    assert "Every eval row" in (tmp_path / "climb.html").read_text()
    res = runner.invoke(app, ["report", "nope", "--store", str(db)])
    assert res.exit_code == 2 and "No run 'nope'" in res.output


def test_compare_page_lists_flips(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    from report_runs import answer_v2

    a = climb_label(tmp_path, db)
    b = climb_label(tmp_path, db, answer_v2, "v2")
    page = render_compare(Store(db), a.run_id, b.run_id)
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1))
    flips = data["flips"]
    assert {f["dir"] for f in flips} == {"worse", "better"}
    assert all(f["a_out"] is not None and f["b_out"] is not None for f in flips)
    for hostile in HOSTILE[:3]:
        assert hostile not in page
