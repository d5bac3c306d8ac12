from __future__ import annotations

from pathlib import Path

import pytest

from rungwise.metrics.scoring import (
    Scorer,
    extract_json,
    json_field_f1,
    normalize_exact,
    parse_label,
    squad_normalize,
    token_f1,
)
from rungwise.task.data import Example
from rungwise.task.spec import Task

from helpers import write_task

LABELS = ["card_arrival", "card_linking", "Refund_not_showing_up"]


@pytest.mark.parametrize(
    "output, expected",
    [
        ("card_arrival", "card_arrival"),
        ("  'Card_Arrival'.", "card_arrival"),
        ('"card_linking"\nbecause...', "card_linking"),
        ("Label: card_linking", "card_linking"),
        ("refund_not_showing_up", "Refund_not_showing_up"),
        ("`card_arrival`", "card_arrival"),
        ("The customer asks about card_arrival", None),
        ("", None),
        ("card arrival", None),
    ],
)
def test_parse_label(output: str, expected: str | None) -> None:
    assert parse_label(output, LABELS) == expected


def test_extract_json() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure!\n```json\n{"a": "x}"}\n```') == {"a": "x}"}
    assert extract_json('Here: {"a": {"b": 2}} done') == {"a": {"b": 2}}
    assert extract_json("no json here") is None
    assert extract_json('{"a": ') is None


def test_json_field_f1() -> None:
    gold = {"a": "1", "b": "Main St"}
    assert json_field_f1({"a": "1", "b": "main  st"}, gold) == 1.0
    assert json_field_f1({"a": "1"}, gold) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert json_field_f1({"a": "2"}, gold) == 0.0
    assert json_field_f1({}, {}) == 1.0


def test_squad_f1_and_normalisation() -> None:
    assert squad_normalize("The  Edict, of Fontainebleau!") == "edict of fontainebleau"
    assert token_f1("the Edict of Fontainebleau", "Edict of Fontainebleau") == 1.0
    # "it was edict of nantes" vs "edict of fontainebleau": 2 common tokens, P = 2/5, R = 2/3
    assert token_f1("It was the Edict of Nantes", "Edict of Fontainebleau") == pytest.approx(0.5)
    assert token_f1("", "x") == 0.0


def test_normalize_exact() -> None:
    assert normalize_exact(' "8.5 cm". ') == "8.5 cm"
    assert normalize_exact("$18925000") == normalize_exact("$18925000")
    assert normalize_exact("8.5 cm") != normalize_exact("85 cm")


def test_scorer_marks_format_and_content(label_task: Path) -> None:
    task = Task.load(label_task)
    scorer = Scorer(task)
    ex = task.eval[0]
    assert scorer.score("billing", ex).failure is None
    assert scorer.score("billing", ex).score == 1.0
    assert scorer.score("sales", ex).failure == "content"
    assert scorer.score("I think it is about money", ex).failure == "format"


def test_json_scorer_required_fields(tmp_path: Path) -> None:
    toml = ('name = "t"\ninstruction = "x"\ntarget = 0.5\n[output]\ntype = "json"\n'
            'schema = { type = "object", properties = { a = { type = "string" }, b = { type = "string" } }, required = ["a"] }\n')
    folder = write_task(tmp_path / "j", toml, None, [{"input": "q", "target": {"a": "1", "b": "2"}}])
    task = Task.load(folder)
    scorer = Scorer(task)
    ex = task.eval[0]
    assert scorer.score('{"a": "1", "b": "2"}', ex).score == 1.0
    half = scorer.score('```json\n{"a": "1"}\n```', ex)
    assert half.failure == "content" and 0 < half.score < 1
    assert scorer.score('{"b": "2"}', ex).failure == "format"
    assert scorer.score("nope", ex).failure == "format"


def test_text_metrics_and_custom(tmp_path: Path) -> None:
    toml = 'name = "t"\ninstruction = "x"\ntarget = 0.5\n[metric]\nname = "token_f1"\n'
    folder = write_task(tmp_path / "qa", toml, None, [{"input": "q", "target": "Paris", "answers": ["Paris", "the city of Paris"]}])
    task = Task.load(folder)
    s = Scorer(task).score("It is Paris.", task.eval[0])
    assert s.score == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1)) and s.extras["contains_answer"] == 1.0
    assert Scorer(task).score("  ", task.eval[0]).failure == "format"

    toml = 'name = "t"\ninstruction = "x"\ntarget = 0.5\n[metric]\nname = "regex"\npattern = "[0-9]+"\n'
    folder = write_task(tmp_path / "re", toml, None, [{"input": "q", "target": "1"}])
    task = Task.load(folder)
    assert Scorer(task).score("123", task.eval[0]).score == 1.0
    assert Scorer(task).score("12a", task.eval[0]).failure == "format"

    toml = 'name = "t"\ninstruction = "x"\ntarget = 0.5\n[metric]\nname = "custom"\nfunction = "mymetric_x:score"\n'
    folder = write_task(tmp_path / "c", toml, None, [{"input": "q", "target": "abc"}],
                        {"mymetric_x.py": "def score(output, row):\n    return 0.5 if row['target'] in output else 0.0\n"})
    task = Task.load(folder)
    assert Scorer(task).score("xxabcxx", task.eval[0]).score == 0.5


def test_examples_answers_and_gold_ids() -> None:
    ex = Example("eval:L1", "q", "a", {"answers": ["a", "b"], "doc_id": "d1"})
    assert ex.answers == ["a", "b"] and ex.gold_doc_ids == ["d1"]
    assert Example("eval:L2", "q", "a").answers == ["a"]
