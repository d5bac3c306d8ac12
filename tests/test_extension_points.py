"""The seams: a rung added from outside the package is climbed, judged and reported with no other edit; task
metrics are loaded by file path, each task its own; a metric that fails, hangs or exits names its row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from rungwise import ClimbOptions, MetricError, Rung, RungContext, TaskError, Variant, climb, register
from rungwise.models.base import Message, Request
from rungwise.models.fake import FakeModel
from rungwise.report.terminal import print_climb
from rungwise.rungs import rung_names, unregister
from rungwise.task.data import Example
from rungwise.task.spec import Task

from helpers import write_task


class EchoLabelRung(Rung):
    """A toy rung: asks for the label with a one-line prompt of its own."""

    name = "toy"
    order = 17  # between the prompt search and fewshot
    kind = "prompt"
    summary = "a toy rung defined in the test suite"

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        def build(ex: Example) -> Request:
            return Request((Message("user", f"TOY {ex.input}"),), max_tokens=context.budget.max_tokens)

        return [Variant("toy-echo", self.name, build, config={"toy": True})]


@pytest.fixture
def toy_rung() -> Iterator[None]:
    register(EchoLabelRung)
    yield
    unregister("toy")


def test_a_rung_from_outside_is_climbed_judged_and_reported(toy_rung: None, label_task: Path, tmp_path: Path) -> None:
    assert rung_names().index("toy") == rung_names().index("prompt-search") + 1

    def answer(r: Request) -> str:  # the toy's prompt gets the right label; every other prompt a wrong one
        text = r.messages[-1].content
        if text.startswith("TOY "):
            return {"Extra fee on my invoice": "billing", "Cannot reset my password": "technical"}.get(text[4:], "sales")
        return "nonsense"

    result = climb(label_task, FakeModel(answer), ClimbOptions(store_path=tmp_path / "s.db", all_rungs=True,
                                                               rungs=["baseline", "toy", "prompt"]))
    names = [v.name for v in result.variants]
    assert names.index("toy-echo") > names.index("prompt")  # ladder order, whatever the order asked
    toy = next(v for v in result.variants if v.name == "toy-echo")
    assert toy.score == 1.0 and toy.kind == "prompt"
    assert result.decision is not None and any(v.rung == "toy" and v.best == "toy-echo" for v in result.decision.rungs)
    assert result.shipped == "toy-echo"
    console = Console(record=True, width=200)
    print_climb(result.record(), console)
    assert "toy-echo" in console.export_text()
    assert any(v["name"] == "toy-echo" for v in result.to_dict()["variants"])


def test_climb_help_lists_the_registered_rungs(toy_rung: None) -> None:
    from typer.testing import CliRunner

    import rungwise.cli

    text = CliRunner().invoke(rungwise.cli.app, ["climb", "--help"], env={"COLUMNS": "200"}).output
    for name in ("baseline", "prompt", "fewshot", "rag", "finetune"):
        assert name in text


METRIC_TOML = 'name = "{name}"\ninstruction = "x"\ntarget = 0.5\n[metric]\nname = "custom"\nfunction = "metric:score"\n{extra}'


def _metric_task(folder: Path, name: str, body: str, extra: str = "") -> Path:
    return write_task(folder, METRIC_TOML.format(name=name, extra=extra), None,
                      [{"input": "q1", "target": "abc"}, {"input": "q2", "target": "xyz"}], {"metric.py": body})


def test_two_tasks_with_their_own_metric_py_in_one_process(tmp_path: Path) -> None:
    a = _metric_task(tmp_path / "a", "a", "def score(output, row):\n    return 1.0 if output == 'A' else 0.0\n")
    b = _metric_task(tmp_path / "b", "b", "def score(output, row):\n    return 1.0 if output == 'B' else 0.0\n")
    model = FakeModel(lambda r: "A")
    ra = climb(a, model, ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline"]))
    rb = climb(b, model, ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline"]))
    ra2 = climb(a, FakeModel(lambda r: "B", name="other"), ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline"]))
    assert ra.variants[0].score == 1.0 and rb.variants[0].score == 0.0 and ra2.variants[0].score == 0.0


@pytest.mark.parametrize("body, expected", [
    ("def score(output, row):\n    raise ValueError('bad row')\n", "raised ValueError: bad row"),
    ("def score(output, row):\n    return float('nan')\n", "must return a number from 0 to 1"),
    ("def score(output, row):\n    return 7\n", "returned 7.0"),
    ("import sys\ndef score(output, row):\n    sys.exit(3)\n", "raised SystemExit"),
    ("import os\ndef score(output, row):\n    os._exit(4)\n", "ended its process (exit code 4)"),
])
def test_a_failing_metric_names_the_row_and_the_variant(tmp_path: Path, body: str, expected: str) -> None:
    folder = _metric_task(tmp_path / "t", "t", body)
    with pytest.raises(MetricError) as err:
        climb(folder, FakeModel(lambda r: "A"), ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline"]))
    message = str(err.value)
    assert expected in message and "row eval:L1" in message and "variant baseline" in message


def test_a_metric_that_exits_on_import_is_a_task_error(tmp_path: Path) -> None:
    folder = _metric_task(tmp_path / "t", "t", "raise SystemExit(0)\n")
    with pytest.raises(TaskError, match="metric.function.*SystemExit"):
        climb(folder, FakeModel(lambda r: "A"), ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline"]))


def test_a_hanging_metric_is_stopped(tmp_path: Path) -> None:
    folder = _metric_task(tmp_path / "t", "t", "import time\ndef score(output, row):\n    time.sleep(60)\n",
                          extra="timeout_s = 1\n")
    start = time.monotonic()
    with pytest.raises(MetricError, match="took more than 1 s scoring row eval:L1"):
        climb(folder, FakeModel(lambda r: "A"), ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline"]))
    assert time.monotonic() - start < 30


def test_a_catastrophic_regex_costs_a_row_not_the_climb(tmp_path: Path) -> None:
    toml = 'name = "r"\ninstruction = "x"\ntarget = 0.5\n[metric]\nname = "regex"\npattern = "(a+)+$"\n'
    folder = write_task(tmp_path / "r", toml, None, [{"input": "q", "target": "a"}, {"input": "q2", "target": "a"}])
    start = time.monotonic()
    result = climb(folder, FakeModel(lambda r: "a" * 40 + "!"), ClimbOptions(store_path=tmp_path / "s.db",
                                                                             rungs=["baseline"]))
    assert time.monotonic() - start < 2 * 2 + 10  # at most ~1 s per row, plus the climb itself
    assert result.variants[0].score == 0.0 and result.variants[0].format_failures == 2


def test_the_callers_task_is_not_changed(label_task: Path, tmp_path: Path) -> None:
    task = Task.load(label_task)
    before = task.spec.model_dump()
    climb(task, FakeModel(lambda r: "billing"), ClimbOptions(store_path=tmp_path / "s.db", sample=2, rungs=["prompt"]))
    assert task.spec.model_dump() == before


def test_options_are_validated() -> None:
    """A wrong option is one line naming it and what it takes: an OptionsError (a TaskError, and a ValueError)."""
    from rungwise import NOT_SET, TaskError
    from rungwise.errors import OptionsError

    assert ClimbOptions().sample is NOT_SET and ClimbOptions(sample=None).sample is NOT_SET
    assert ClimbOptions(timeout_s=None).timeout_s is NOT_SET and ClimbOptions(retries=0).retries == 0
    with pytest.raises(OptionsError) as leak:
        ClimbOptions(leakage="sometimes")  # type: ignore[arg-type]
    assert str(leak.value) == "option leakage: input should be 'stop', 'drop' or 'warn', not 'sometimes'."
    assert isinstance(leak.value, TaskError) and isinstance(leak.value, ValueError)
    with pytest.raises(OptionsError, match="option concurrency: .*greater than or equal to 1, not 0"):
        ClimbOptions(concurrency=0)
    with pytest.raises(OptionsError, match="ClimbOptions has no option 'sampel'"):
        ClimbOptions(sampel=3)  # type: ignore[call-arg]
    for bad in ({"timeout_s": 0}, {"timeout_s": float("nan")}, {"retries": -1}):
        with pytest.raises(OptionsError, match=f"option {next(iter(bad))}"):
            ClimbOptions(**bad)  # type: ignore[arg-type]
    options = ClimbOptions()
    with pytest.raises(OptionsError, match="option sample: sample must be at least 1"):
        options.sample = 0  # assignment is validated the same way
    with pytest.raises(OptionsError) as two:
        ClimbOptions(leakage="maybe", sample=0)  # type: ignore[arg-type]
    assert "\n" not in str(two.value) and "leakage" in str(two.value) and "sample" in str(two.value)




def test_an_option_whose_validator_names_the_input_names_it_once() -> None:
    from rungwise.errors import OptionsError

    with pytest.raises(OptionsError) as err:
        ClimbOptions(decide_budget="lots")
    assert str(err.value).count("'lots'") == 1 and str(err.value).startswith("option decide_budget: ")
