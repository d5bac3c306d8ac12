"""Several models in one climb: --model given more than once, [[models]] in task.toml (and its errors), and the
orchestration on fake models (the real two-model climb is in tests/e2e/test_frontier_e2e.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rungwise.cli import app
from rungwise.engine.multi import ModelChoice, climb_models, models_from_cli, models_from_task
from rungwise.engine.options import ClimbOptions
from rungwise.errors import TaskError
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.record.stored import load_report
from rungwise.report.html import render_climb
from rungwise.store import Store
from rungwise.task.spec import Task

from helpers import LABEL_EVAL, LABEL_TOML_EXACT, LABEL_TRAIN, write_task

# -- --model given more than once -------------------------------------------------------------------


def test_names_go_to_the_urls_in_order() -> None:
    got = models_from_cli(["local", "http://a:1/v1", "http://b:2/v1#inline", "http://c:3/v1"], ["big", "third"])
    assert [(c.spec, c.name, c.label) for c in got] == [
        ("local", None, "local"), ("http://a:1/v1", "big", "big"), ("http://b:2/v1", "inline", "inline"),
        ("http://c:3/v1", "third", "third")]


def test_one_model_takes_its_name_as_before() -> None:
    assert [(c.spec, c.name) for c in models_from_cli(["local"], ["ignored-by-local"])] == [("local", "ignored-by-local")]
    assert [(c.spec, c.name) for c in models_from_cli(["http://h/v1"], [])] == [("http://h/v1", None)]


def test_the_same_model_twice_gets_labels_with_its_host() -> None:
    got = models_from_cli(["http://a:1/v1#m", "http://b:2/v1#m"])
    assert [c.label for c in got] == ["m @ a:1", "m @ b:2"]


@pytest.mark.parametrize(("models", "names", "message"), [
    (["local", "http://a/v1"], [], "--model http://a/v1 has no model name"),
    (["local", "http://a/v1"], ["x", "y"], "2 --model-name given for 1 endpoint URL"),
    (["local", "http://a/v1#"], [], "nothing after '#'"),
    (["local#x", "http://a/v1#y"], [], "only a URL takes a name after '#'"),
])
def test_bad_model_lists_say_what_to_write(models: list[str], names: list[str], message: str) -> None:
    with pytest.raises(TaskError, match=message):
        models_from_cli(models, names)


# -- [[models]] in task.toml ---------------------------------------------------------------------------

MODELS_TOML = LABEL_TOML_EXACT + """
[costs]
calls_per_month = 1000
input_price_per_million = 1.0

[[models]]
url = "local"
label = "small"

[[models]]
url = "http://127.0.0.1:9/v1"
name = "big-model"
api_key_env = "BIG_KEY"
input_price_per_million = 10.0
rpm = 60
"""


def test_models_from_task_toml(tmp_path: Path) -> None:
    task = Task.load(write_task(tmp_path / "t", MODELS_TOML, LABEL_TRAIN, LABEL_EVAL))
    got = models_from_task(task)
    assert [(c.spec, c.name, c.label, c.api_key_env, c.input_price_per_million, c.rpm) for c in got] == [
        ("local", None, "small", None, None, None), ("http://127.0.0.1:9/v1", "big-model", "big-model", "BIG_KEY", 10.0, 60)]


def test_model_choices_are_the_flags_else_the_tasks_else_local(tmp_path: Path) -> None:
    """What `rungwise climb` climbs, decided in the API: --model, else [[models]], else local; flags' limits win."""
    from rungwise.engine.multi import model_choices

    listed = Task.load(write_task(tmp_path / "t", MODELS_TOML, LABEL_TRAIN, LABEL_EVAL))
    plain = Task.load(write_task(tmp_path / "p", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL))
    assert [(c.spec, c.rpm, c.capabilities) for c in model_choices(plain)] == [("local", None, None)]
    got = model_choices(listed, rpm=5, capabilities="none")
    assert [(c.label, c.rpm, c.tpm, c.capabilities) for c in got] == [("small", 5, None, "none"), ("big-model", 5, None, "none")]
    assert [c.rpm for c in model_choices(listed)] == [None, 60]  # the entry's own, when no flag says otherwise
    given = model_choices(listed, ["http://h:1/v1"], ["m"], api_key_env="K", tpm=9)
    assert [(c.spec, c.name, c.api_key_env, c.tpm) for c in given] == [("http://h:1/v1", "m", "K", 9)]


def _climb_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rungwise", "climb", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("edit", "where"), [
    (('url = "http://127.0.0.1:9/v1"', 'url = "ftp://host"'), "line 20, field 'models.1.url': expected \"local\" or an "
     "OpenAI-compatible base URL"),
    (('name = "big-model"\n', ''), "line 19, field 'models.1': a model at a URL needs `name`"),
    (('rpm = 60', 'rmp = 60'), "line 24, field 'models.1.rmp': unknown key. Did you mean 'rpm'?"),
    (('input_price_per_million = 10.0', 'input_price_per_million = "ten"'), "line 23, field 'models.1.input_price_per_million'"),
    (('label = "small"', 'label = "big-model"\n[[models]]\nurl = "local"\nlabel = "big-model"'), "two [[models]] have "
     "the label 'big-model'"),
])
def test_bad_models_entries_name_the_file_line_and_field(tmp_path: Path, edit: tuple[str, str], where: str) -> None:
    folder = write_task(tmp_path / "t", MODELS_TOML.replace(*edit), LABEL_TRAIN, LABEL_EVAL)
    proc = _climb_cli(str(folder))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "task.toml" in proc.stderr and where in " ".join(proc.stderr.split()), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_task_with_models_climbs_them_all_from_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`climb_models(task)` climbs the task's [[models]] as `rungwise climb TASK` does; `climb(task)` climbs a task's
    one [[models]] entry at its prices, and refuses several with a pointer to climb_models (one result type each)."""
    from rungwise import climb

    from e2e.hostile_server import HostileServer

    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / "cache"))
    options = ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db")
    with HostileServer("ok", lifetime_s=60) as server:
        two = (LABEL_TOML_EXACT + "[costs]\ncalls_per_month = 1000\n[[models]]\nurl = \"URL\"\nname = \"a\"\n"
               "input_price_per_million = 1.0\n[[models]]\nurl = \"URL\"\nname = \"b\"\n"
               "input_price_per_million = 50.0\n").replace("URL", server.base_url)
        task = Task.load(write_task(tmp_path / "two", two, LABEL_TRAIN, LABEL_EVAL))
        with pytest.raises(TaskError, match=r"lists 2 models in \[\[models\]\] \(a, b\).*climb_models\(task\)"):
            climb(task, options=options)
        both = climb_models(task, options=options)
        assert both.labels == ["a", "b"] and both.frontier is not None
        a, b = both.results
        assert b.costs["baseline"].cost_per_call == pytest.approx(50 * a.costs["baseline"].cost_per_call)
        one = Task.load(write_task(tmp_path / "one", two.split("[[models]]")[0] + "[[models]]" + two.split("[[models]]")[2],
                                   LABEL_TRAIN, LABEL_EVAL))
        only = climb(one, options=options)
        assert only.costs["baseline"].cost_per_call == pytest.approx(b.costs["baseline"].cost_per_call)
        assert only.model == b.model  # the entry's model, not the embedded one


# -- the orchestration on fake models ---------------------------------------------------------------

RIGHT = {r["input"]: r["target"] for r in LABEL_EVAL}


def _right(request: Request) -> str:
    text = request.messages[-1].content
    return next((t for i, t in RIGHT.items() if i in text), "billing")


def test_two_models_at_their_own_prices_and_the_frontier(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT + "[costs]\ncalls_per_month = 1000\n", LABEL_TRAIN, LABEL_EVAL)
    task = Task.load(folder)
    db = tmp_path / "s.db"
    cheap = ModelChoice("fake", label="<b>cheap</b>", input_price_per_million=1.0, model=FakeModel(lambda r: "billing", name="a"))
    dear = ModelChoice("fake", label="dear", input_price_per_million=50.0, output_price_per_million=50.0,
                       model=FakeModel(_right, name="b"))
    result = climb_models(task, [cheap, dear], ClimbOptions(rungs=["baseline", "prompt"], all_rungs=True, store_path=db))
    assert task.spec.costs.input_price_per_million == 0.0  # the caller's task is not changed
    f = result.frontier
    assert f is not None and {p.model for p in f.points} == {"<b>cheap</b>", "dear"}
    a, b = result.results
    assert a.run_id != b.run_id
    # each model priced at its own prices: the same prompt costs 50 times more on the dear model
    pa, pb = a.costs["prompt"], b.costs["prompt"]
    assert pa.cost_per_call > 0 and pb.cost_per_call > 40 * pa.cost_per_call * (
        a.variants[1].mean_prompt_tokens / b.variants[1].mean_prompt_tokens)
    assert [m.meets_target for m in f.models] == [False, True]  # only the dear model answers right
    assert f.recommended is not None and f.recommended.model == "dear"
    cheapest_meeting = min((p for p in f.points if p.score >= task.spec.target), key=lambda p: p.cost_per_call)
    assert f.recommended.key == cheapest_meeting.key
    data = result.to_dict()
    assert [m["label"] for m in data["models"]] == ["<b>cheap</b>", "dear"] and data["frontier"]["recommended"]
    unlabelled = climb_models(task, [ModelChoice("fake", model=FakeModel(name="c")), ModelChoice("fake", model=FakeModel(name="d"))],
                              ClimbOptions(rungs=["baseline"], store_path=db))
    assert unlabelled.labels == ["fake #1", "fake #2"]
    # every run's record holds the frontier: its report shows it, the label escaped
    with Store(db) as store:
        report = load_report(store, a.run_id)
    assert (report.result.frontier or {})["recommended"] == f.recommended.key
    page = render_climb(report)
    assert "Across models: the frontier" in page and "&lt;b&gt;cheap&lt;/b&gt;" in page and "<b>cheap</b>" not in page
    shown = CliRunner().invoke(app, ["show", a.run_id, "--store", str(db)])
    assert shown.exit_code == 0 and "across models:" in shown.output and "Ship dear's" in shown.output


def test_cli_with_two_models_prints_json_with_the_frontier_and_writes_its_page(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    page = tmp_path / "frontier.html"
    res = CliRunner().invoke(app, ["climb", str(folder), "--model", "fake", "--model", "fake", "--rungs", "baseline",
                                   "--json", "--store", str(tmp_path / "s.db"), "--report", str(page)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout[res.stdout.index("{"):])
    assert [m["label"] for m in data["models"]] == ["fake #1", "fake #2"]
    assert {p["model"] for p in data["frontier"]["points"]} == {"fake #1", "fake #2"}
    assert data["frontier"]["axis"] == "tokens"  # no prices: cost is tokens per call
    html = page.read_text()
    assert "chart-frontier" in html and "fake #2" in html


def test_cli_with_one_model_is_unchanged(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    res = CliRunner().invoke(app, ["climb", str(folder), "--model", "fake", "--rungs", "baseline", "--json",
                                   "--store", str(tmp_path / "s.db")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout[res.stdout.index("{"):])
    assert data["frontier"] is None and data["model"] == "fake:fake" and data["variants"][0]["name"] == "baseline"
