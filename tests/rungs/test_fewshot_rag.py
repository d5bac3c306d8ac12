"""The few-shot and rag rungs on the fake model and a fake embedder: selection, leakage, rendering, retrieval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.rungs.base import GenerationBudget, RungContext, RungSkipped, SharedResources
from rungwise.rungs.constrained import label_grammar
from rungwise.rungs.fewshot import FewShotRung, fixed_examples, render
from rungwise.rungs.rag import RagRung
from rungwise.task.data import fold
from rungwise.task.spec import Task

from helpers import LABEL_TOML, write_task
from rungs.fakes import BagOfWordsEmbedder

TOML = LABEL_TOML.replace("target = 0.8", "target = 0.99") + "[fewshot]\nk = 2\n"
TRAIN = [
    {"input": "charged twice on my card", "target": "billing"},
    {"input": "refund for the invoice", "target": "billing"},
    {"input": "app crashes at login", "target": "technical"},
    {"input": "password reset fails", "target": "technical"},
    {"input": "discount for fifty seats", "target": "sales"},
    {"input": "Price of the enterprise plan?", "target": "sales"},  # leaks: an eval input after folding
]
EVAL = [
    {"input": "price of the enterprise plan", "target": "sales"},
    {"input": "my password reset is broken", "target": "technical"},
    {"input": "invoice refund please", "target": "billing"},
]


@pytest.fixture
def task(tmp_path: Path) -> Task:
    return Task.load(write_task(tmp_path / "route", TOML, TRAIN, EVAL))


def _context(model: FakeModel | None = None) -> RungContext:
    return RungContext(model=model or FakeModel(), budget=GenerationBudget(8, ("\n",)), resources=SharedResources(embedder=BagOfWordsEmbedder()))


def test_eval_input_never_appears_in_its_own_prompt(task: Task, tmp_path: Path) -> None:
    ctx = _context()
    ctx.cache_dir = tmp_path
    variants = {v.name: v for v in FewShotRung().prepare(task, ctx)}
    assert {"fewshot-fixed", "fewshot-knn", "fewshot-knn-constrained", "knn-label"} <= set(variants)
    for name in ("fewshot-fixed", "fewshot-knn"):
        for ex in task.eval:
            req = variants[name].build(ex)  # type: ignore[misc]
            shots = [m.content for m in req.messages[1:-1] if m.role == "user"]
            assert len(shots) == 2
            assert all(fold(s) != fold(ex.input) for s in shots), (name, ex.input, shots)
            assert req.messages[-1].content == ex.input
            # the leaked train row is never offered, to any eval input
            assert all(fold(s) != fold("Price of the enterprise plan?") for s in shots)


def test_knn_picks_neighbours_and_reference_answers(task: Task, tmp_path: Path) -> None:
    ctx = _context()
    ctx.cache_dir = tmp_path
    variants = {v.name: v for v in FewShotRung().prepare(task, ctx)}
    req = variants["fewshot-knn"].build(task.eval[1])  # type: ignore[misc]
    shots = [m.content for m in req.messages if m.role == "user"][:-1]
    assert shots[-1] == "password reset fails"  # the nearest sits last, right before the input
    assert variants["knn-label"].answer(task.eval[1]) == "technical"  # type: ignore[misc]
    assert variants["knn-label"].probe
    constrained = variants["fewshot-knn-constrained"].build(task.eval[1])  # type: ignore[misc]
    assert constrained.grammar == label_grammar(["billing", "technical", "sales"])


def test_fixed_examples_are_label_balanced_and_seeded(task: Task) -> None:
    shots = fixed_examples(task, task.train, 3, seed=1)
    assert sorted(s.target for s in shots) == ["billing", "sales", "technical"]
    assert fixed_examples(task, task.train, 3, seed=1) == shots


def test_render_styles() -> None:
    from rungwise.task.data import Example

    shots = [Example("t:1", "a", "x")]
    chat = render("SYS", shots, "q", "chat")
    assert [m.role for m in chat] == ["system", "user", "assistant", "user"]
    inline = render("SYS", shots, "q", "inline")
    assert [m.role for m in inline] == ["system", "user"] and "Input: a\nOutput: x" in inline[0].content


def test_no_train_skips(tmp_path: Path) -> None:
    task = Task.load(write_task(tmp_path / "t", TOML, None, EVAL))
    with pytest.raises(RungSkipped, match="train"):
        FewShotRung().prepare(task, _context())


def test_grammar_escapes_quotes() -> None:
    assert label_grammar(['say "hi"', "a\\b"]) == 'root ::= "say \\"hi\\"" | "a\\\\b"'


QA_TOML = """
name = "qa"
instruction = "Answer."
target = 0.9
[output]
type = "text"
[metric]
name = "token_f1"
[rag]
k = 1
modes = ["bm25", "dense", "hybrid"]
context_tokens = 60
"""
CORPUS = [
    {"id": "d1", "title": "Paris", "text": "Paris is the capital of France. " + "filler words here " * 30},
    {"id": "d2", "title": "Berlin", "text": "Berlin is the capital of Germany."},
    {"id": "d3", "title": "Rome", "text": "Rome is the capital of Italy."},
]
QA_EVAL = [
    {"input": "What is the capital of Germany?", "target": "Berlin", "doc_id": "d2"},
    {"input": "What is the capital of Italy?", "target": "Rome", "doc_id": "d3"},
]


def test_rag_variants_recall_and_oracle(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "qa", QA_TOML, [{"input": "q", "target": "a"}], QA_EVAL,
                        {"corpus.jsonl": "".join(json.dumps(r) + "\n" for r in CORPUS)})
    task = Task.load(folder)
    ctx = _context()
    ctx.cache_dir = tmp_path / "cache"
    variants = {v.name: v for v in RagRung().prepare(task, ctx)}
    assert set(variants) == {"rag-bm25", "rag-dense", "rag-hybrid", "oracle"} and variants["oracle"].probe
    req = variants["rag-bm25"].build(task.eval[0])  # type: ignore[misc]
    assert "Berlin is the capital of Germany." in req.messages[-1].content
    assert variants["rag-bm25"].annotate(task.eval[0]) == {"recall@1": 1.0, "reciprocal_rank": 1.0}  # type: ignore[misc]
    oracle = variants["oracle"].build(task.eval[1])  # type: ignore[misc]
    assert "Rome is the capital of Italy." in oracle.messages[-1].content

    # a climb with a model that reads the context: rag closes the knowledge gap the prompt rung leaves
    def reader(request: Request) -> str:
        text = request.messages[-1].content
        for city in ("Berlin", "Rome", "Paris"):
            if f"{city} is the capital" in text:
                return city
        return "I do not know"

    result = climb(task, FakeModel(reader), ClimbOptions(store_path=tmp_path / "s.db", cache_dir=tmp_path / "cache"))
    by_name = {v.name: v for v in result.variants}
    assert by_name["prompt"].score == 0.0 and by_name["rag-bm25"].score == 1.0
    assert by_name["rag-bm25"].extras["recall@1"] == 1.0
    assert result.shipped == "rag-bm25"


def test_rag_context_never_overflows(tmp_path: Path) -> None:
    corpus = [{"id": "big", "text": "word " * 5000}]
    folder = write_task(tmp_path / "qa", QA_TOML, None, [{"input": "word?", "target": "word", "doc_id": "big"}],
                        {"corpus.jsonl": json.dumps(corpus[0]) + "\n"})
    task = Task.load(folder)
    ctx = _context()
    ctx.cache_dir = tmp_path / "cache"
    for v in RagRung().prepare(task, ctx):
        content = v.build(task.eval[0]).messages[-1].content  # type: ignore[misc]
        assert 10 < len(content.split()) <= 60, v.name


def test_no_corpus_skips(task: Task) -> None:
    with pytest.raises(RungSkipped, match="corpus"):
        RagRung().prepare(task, _context())
