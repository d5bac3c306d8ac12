"""Constrained twins: budgets that cover the longest spelling a grammar allows, a schema inferred when a JSON
task gives none (never one that forces an empty object), and which unconstrained answers a grammar cannot change."""

from __future__ import annotations

import json
from pathlib import Path

from rungwise.models.base import Capabilities, ModelInfo, Request
from rungwise.rungs.base import GenerationBudget, Variant
from rungwise.rungs.constrained import constrained_budget, constrained_twin, infer_json_schema
from rungwise.task.spec import Task

from helpers import write_task

GRAMMAR = ModelInfo("m", "m", "llama.cpp", Capabilities(grammar=True, json_schema=True))


def _label_task(tmp_path: Path, labels: list[str]) -> Task:
    toml = f'name = "t"\ninstruction = "x"\ntarget = 0.5\n[output]\ntype = "label"\nlabels = {json.dumps(labels)}\n'
    return Task.load(write_task(tmp_path / "t", toml, None, [{"input": "q", "target": labels[0]}]))


def test_a_label_budget_covers_a_spelling_of_one_token_per_byte(tmp_path: Path) -> None:
    task = _label_task(tmp_path, ["AddToWishlist", "GetWeather", "book a table for two"])
    budget = GenerationBudget(7, ("\n",))  # what the canonical tokenization needed
    assert constrained_budget(task, budget) >= len("book a table for two")
    twin = constrained_twin(Variant("v", "prompt", lambda ex: Request(())), task, GRAMMAR, budget)
    assert twin is not None and twin.twin_of == "v" and twin.fits is not None


def test_fits_only_a_whole_label_that_no_other_label_extends(tmp_path: Path) -> None:
    task = _label_task(tmp_path, ["card", "card_arrival", "refund"])
    twin = constrained_twin(Variant("v", "prompt", lambda ex: Request(())), task, GRAMMAR,
                            GenerationBudget(8))
    assert twin is not None and twin.fits is not None
    assert twin.fits("refund") and twin.fits("card_arrival")
    assert not twin.fits("card")  # under the grammar the model may go on to card_arrival
    assert not twin.fits("refund ") and not twin.fits(" refund") and not twin.fits("Refund")


def test_a_json_task_without_schema_gets_one_inferred_from_train(tmp_path: Path) -> None:
    toml = 'name = "j"\ninstruction = "x"\ntarget = 0.5\n[output]\ntype = "json"\n'
    train = [{"input": f"q{i}", "target": json.dumps({"city": f"c{i}", "kind": ["a", "b"][i % 2], "n": i})}
             for i in range(40)]
    task = Task.load(write_task(tmp_path / "j", toml, train, [{"input": "q", "target": '{"city": "x"}'}]))
    twin = constrained_twin(Variant("v", "prompt", lambda ex: Request(())), task, GRAMMAR,
                            GenerationBudget(16))
    assert twin is not None
    schema = twin.build(task.eval[0]).json_schema  # type: ignore[misc]
    assert schema is not None and set(schema["properties"]) == {"city", "kind", "n"}
    assert schema["properties"]["kind"]["enum"] == ["a", "b"] and "enum" not in schema["properties"]["city"]
    assert schema.get("additionalProperties") is not False  # a key train never shows stays possible
    assert "inferred from 40 train targets" in twin.config["schema_source"]


def test_no_schema_and_no_json_targets_means_no_constrained_twin(tmp_path: Path) -> None:
    assert infer_json_schema(["not json", "[1, 2]"]) is None
    toml = 'name = "j"\ninstruction = "x"\ntarget = 0.5\n[output]\ntype = "json"\n'
    task = Task.load(write_task(tmp_path / "j", toml, None, [{"input": "q", "target": '{"a": 1}'}]))
    assert constrained_twin(Variant("v", "prompt", lambda ex: Request(())), task, GRAMMAR,
                            GenerationBudget(16)) is None
