from __future__ import annotations

import json
from pathlib import Path

import pytest

from rungwise.errors import DataError, TaskError
from rungwise.task.spec import Task

from helpers import LABEL_EVAL, LABEL_TOML, LABEL_TRAIN, write_task


def test_loads_a_label_task(label_task: Path) -> None:
    task = Task.load(label_task)
    assert task.labels == ["billing", "technical", "sales"]
    assert [ex.target for ex in task.eval] == ["billing", "technical", "sales"]
    assert task.spec.metric_name == "accuracy"
    assert task.train[0].id == "train:L1"


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", "targte = 0.5\n" + LABEL_TOML, LABEL_TRAIN, LABEL_EVAL)
    with pytest.raises(DataError) as err:
        Task.load(folder)
    msg = str(err.value)
    assert "task.toml" in msg and "targte" in msg and "Did you mean 'target'?" in msg
    assert err.value.line == 1


def test_unknown_key_in_a_section(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML + "[costs]\ncalls_per_mont = 5\n", LABEL_TRAIN, LABEL_EVAL)
    with pytest.raises(DataError) as err:
        Task.load(folder)
    assert "costs.calls_per_mont" in str(err.value) and "Did you mean 'calls_per_month'?" in str(err.value)
    assert err.value.line == 9


def test_missing_required_key(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML.replace('instruction = "Which team?"\n', ""), LABEL_TRAIN, LABEL_EVAL)
    with pytest.raises(DataError, match="'instruction': missing"):
        Task.load(folder)


def test_wrong_type_names_field_and_line(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML.replace("target = 0.8", 'target = "high"'), LABEL_TRAIN, LABEL_EVAL)
    with pytest.raises(DataError) as err:
        Task.load(folder)
    assert err.value.field == "target" and err.value.line == 4


def test_invalid_toml_names_line(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML + "oops = \n", LABEL_TRAIN, LABEL_EVAL)
    with pytest.raises(DataError, match="not valid TOML") as err:
        Task.load(folder)
    assert err.value.line == 8


def test_malformed_jsonl_line(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, LABEL_EVAL)
    with open(folder / "eval.jsonl", "a") as f:
        f.write('{"input": "x", "target": \n')
    with pytest.raises(DataError) as err:
        Task.load(folder)
    assert err.value.line == 4 and "eval.jsonl" in str(err.value) and "not valid JSON" in str(err.value)


def test_missing_field(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, [{"input": "x"}])
    with pytest.raises(DataError) as err:
        Task.load(folder)
    assert err.value.field == "target" and err.value.line == 1


def test_target_outside_label_set(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN + [{"input": "x", "target": "biling"}], LABEL_EVAL)
    with pytest.raises(DataError) as err:
        Task.load(folder)
    assert err.value.line == 5 and "Did you mean 'billing'?" in str(err.value)


def test_not_utf8(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, LABEL_EVAL)
    (folder / "train.jsonl").write_bytes(b'{"input": "caf\xe9", "target": "billing"}\n')
    with pytest.raises(DataError, match="UTF-8"):
        Task.load(folder)


def test_labels_file_and_json_targets(tmp_path: Path) -> None:
    toml = 'name = "t"\ninstruction = "x"\ntarget = 0.5\n[output]\ntype = "label"\nlabels_file = "labels.json"\n'
    folder = write_task(tmp_path / "t", toml, None, [{"input": "a", "target": "x"}], {"labels.json": json.dumps(["x", "y"])})
    assert Task.load(folder).labels == ["x", "y"]
    toml = 'name = "t"\ninstruction = "x"\ntarget = 0.5\n[output]\ntype = "json"\nfields = ["a"]\n'
    folder = write_task(tmp_path / "j", toml, None, [{"input": "a", "target": {"a": "1"}}])
    task = Task.load(folder)
    assert json.loads(task.eval[0].target) == {"a": "1"} and task.spec.metric_name == "json_f1"
    folder = write_task(tmp_path / "j2", toml, None, [{"input": "a", "target": "not json"}])
    with pytest.raises(DataError, match="JSON object"):
        Task.load(folder)


def test_missing_folder_and_eval(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="no such task folder"):
        Task.load(tmp_path / "nope")
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "task.toml").write_text(LABEL_TOML)
    with pytest.raises(TaskError, match="eval.jsonl"):
        Task.load(folder)


def test_eval_sample_is_seeded_and_random(tmp_path: Path) -> None:
    rows = [{"input": f"q{i}", "target": "billing"} for i in range(100)]
    folder = write_task(tmp_path / "t", LABEL_TOML + "[eval]\nsample = 10\nseed = 3\n", None, rows)
    task = Task.load(folder)
    a, b = task.eval_sample(), task.eval_sample()
    assert [e.id for e in a] == [e.id for e in b] and len(a) == 10
    assert [e.id for e in a] != [e.id for e in task.eval[:10]]
    assert len(task.eval_sample(full=True)) == 100


def test_shipped_example_loads() -> None:
    root = Path(__file__).resolve().parents[1]
    task = Task.load(root / "examples" / "banking77")
    assert task.labels is not None and len(task.labels) == 77
    assert len(task.train) == 10003 and len(task.eval) == 3080
