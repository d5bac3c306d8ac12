"""The kNN few-shot rung's learning curve over its pool size: nested seeded pools, variants of purpose `curve` that
never change the ladder's decision, and the curve in the climb's result, record and recommendation."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.judge.curves import nested_subset
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.record.stored import load_report
from rungwise.rungs.base import GenerationBudget, RungContext, SharedResources
from rungwise.rungs.fewshot import FewShotRung, _pool
from rungwise.store import Store
from rungwise.task.spec import Task

from helpers import write_task
from rungs.fakes import BagOfWordsEmbedder

LABELS = ["billing", "technical", "sales"]
TOML = """
name = "keys"
instruction = "Which team?"
target = 0.95
[output]
type = "label"
labels = ["billing", "technical", "sales"]
[checks]
near_duplicates = false
[costs]
labelled_example_cost = 0.5
currency = "EUR"
[fewshot]
k = 1
selection = ["knn"]
"""


def _rows(n_train: int = 90, n_eval: int = 45) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Each eval row's label is known only from the train row that shares its key word: a pool holding more of
    the train rows answers more eval rows."""
    rng = random.Random(7)
    train = [{"input": f"key{i} please route this", "target": rng.choice(LABELS)} for i in range(n_train)]
    evals = [{"input": f"key{i} where does it go", "target": train[i]["target"]} for i in range(0, n_train, n_train // n_eval)]
    return train, evals


def _answer(request: Request) -> str:
    """A model that copies the label of the shot sharing the input's key word, else says 'sales'."""
    key = request.messages[-1].content.split()[0]
    shots = request.messages[1:-1]
    for user, assistant in zip(shots[::2], shots[1::2], strict=True):
        if user.content.split()[0] == key:
            return assistant.content
    return "sales"


@pytest.fixture
def task(tmp_path: Path) -> Task:
    train, evals = _rows()
    return Task.load(write_task(tmp_path / "keys", TOML, train, evals))


@pytest.fixture
def bow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rungwise.retrieval.embeddings.default_embedder", lambda: BagOfWordsEmbedder())


def _context(tmp_path: Path, curve: bool) -> RungContext:
    return RungContext(model=FakeModel(), budget=GenerationBudget(8, ("\n",)), cache_dir=tmp_path / "cache",
                       resources=SharedResources(embedder=BagOfWordsEmbedder()), curve=curve)


def test_curve_variants_are_nested_seeded_pools(task: Task, tmp_path: Path) -> None:
    assert not [v for v in FewShotRung().prepare(task, _context(tmp_path, False)) if v.purpose == "curve"]
    variants = [v for v in FewShotRung().prepare(task, _context(tmp_path, True)) if v.purpose == "curve"]
    pool = _pool(task)
    assert [v.name for v in variants] == ["fewshot-knn@10", "fewshot-knn@30"]
    assert all(v.probe and v.config["curve"] == "fewshot-knn" and v.config["of"] == len(pool) for v in variants)
    small, large = (nested_subset(pool, n, task.spec.eval.seed) for n in (10, 30))
    assert set(map(id, small)) <= set(map(id, large))
    for v, sub in zip(variants, (small, large), strict=True):
        offered = {m.content for ex in task.eval for m in v.build(ex).messages[1:-1] if m.role == "user"}  # type: ignore[misc]
        assert offered <= {ex.input for ex in sub}  # shots come from that size's pool only
    # seeded: preparing again offers the same shots
    again = [v for v in FewShotRung().prepare(task, _context(tmp_path, True)) if v.purpose == "curve"]
    assert [[m.content for ex in task.eval for m in v.build(ex).messages] for v in again] == [  # type: ignore[misc]
        [m.content for ex in task.eval for m in v.build(ex).messages] for v in variants]  # type: ignore[misc]


def test_explicit_sizes_from_task_toml(tmp_path: Path) -> None:
    train, evals = _rows()
    folder = write_task(tmp_path / "keys", TOML + "curve = [5, 20, 500]\n", train, evals)
    task = Task.load(folder)
    assert task.spec.fewshot.curve == [5, 20, 500]
    names = [v.name for v in FewShotRung().prepare(task, _context(tmp_path, False)) if v.purpose == "curve"]
    assert names == ["fewshot-knn@5", "fewshot-knn@20"]  # a size past the pool is the full variant itself


def test_a_climb_with_curve_records_the_curve_and_keeps_the_decision(task: Task, tmp_path: Path, bow: Any) -> None:
    opts: dict[str, Any] = {"cache_dir": tmp_path / "cache", "rungs": ["prompt", "fewshot"]}
    plain = climb(task, FakeModel(_answer), ClimbOptions(store_path=tmp_path / "a.db", **opts))
    result = climb(task, FakeModel(_answer), ClimbOptions(store_path=tmp_path / "b.db", curve=True, **opts))
    names = {v.name for v in result.variants}
    assert {"fewshot-knn@10", "fewshot-knn@30"} <= names
    # the curve's variants never change the ladder's decision
    assert plain.decision is not None and result.decision is not None
    assert [r.best for r in result.decision.rungs] == [r.best for r in plain.decision.rungs]
    assert result.shipped == plain.shipped
    [curve] = result.curves
    assert curve["name"] == "fewshot-knn" and curve["sizes"] == [10, 30, len(_pool(task))]
    assert curve["variants"] == ["fewshot-knn@10", "fewshot-knn@30", "fewshot-knn"]
    assert curve["scores"][0] < curve["scores"][-1]  # more rows in the pool, more eval rows answered
    assert curve["check"]["size"] == curve["sizes"][-1]
    assert curve["currency"] == "EUR"
    if curve["rows"] is not None:
        assert curve["cost"] == pytest.approx(curve["rows"] * 0.5)
    assert result.to_dict()["curves"] == result.curves
    assert "curves" not in plain.to_dict()
    if result.shipped is None:
        assert "Learning curves:" in result.recommendation
    # the stored record carries it, and a renderer reads it back
    with Store(tmp_path / "b.db") as store:
        report = load_report(store, result.run_id)
    assert report.result.curves[0]["sizes"] == curve["sizes"]
    assert report.result.curves[0]["sentence"] == curve["sentence"]


# -- the fine-tune's curve, on a fake tuner (the real one: tests/e2e/test_finetune_rung.py) ----------------------

FRUITS = "apple banana cherry grape lemon mango peach plum melon kiwi lime pear".split()
FT_TOML = """
name = "fruit"
instruction = "Which fruit?"
target = 0.99
[output]
type = "text"
[checks]
near_duplicates = false
[costs]
labelled_example_cost = 0.2
[finetune]
max_examples = 200
"""


class FakeTuner:
    """Trains nothing: an adapter 'trained' on n rows answers the first n/10 fruits right."""

    base_fingerprint = "fake:base"

    def __init__(self) -> None:
        self.trained: list[tuple[list[Any], Any]] = []

    def train(self, rows: list[Any], config: Any, folder: Path, **_: Any) -> tuple[Path, dict[str, Any]]:
        self.trained.append((rows, config))
        used = min(config.max_examples or len(rows), len(rows) - 20)  # 20 validation rows carved first
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"adapter-{used}.gguf"
        path.write_text("fake")
        return path, {"examples": used, "train_seconds": used / 10, "base_model": self.base_fingerprint}

    def serve(self, adapter: Path) -> FakeModel:
        known = int(adapter.stem.split("-")[1]) // 10

        def answer(request: Request) -> str:
            fruit = request.messages[-1].content.split()[-1].rstrip("?")
            return fruit if FRUITS.index(fruit) < known else "no idea"

        return FakeModel(answer, name=f"fake+{adapter.stem}")


class TunableFake(FakeModel):
    def __init__(self, tuner: FakeTuner) -> None:
        super().__init__(lambda request: "no idea")
        self._tuner = tuner

    def tuner(self) -> FakeTuner:  # type: ignore[override]
        return self._tuner


def test_finetune_curve_trains_nested_sizes_on_the_same_rows(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    train = [{"input": f"{t} {f}?", "target": f} for f in FRUITS for t in ("which", "what", "this", "that", "a",
                                                                           "the", "one", "my", "your", "our")]
    evals = [{"input": f"Is it {f}?", "target": f} for f in FRUITS]
    folder = write_task(tmp_path / "fruit", FT_TOML + "curve = [30, 60]\n", train, evals)
    tuner = FakeTuner()
    result = climb(folder, TunableFake(tuner), ClimbOptions(rungs=["baseline", "finetune"], all_rungs=True,
                                                            store_path=tmp_path / "s.db", cache_dir=tmp_path / "c"))
    # one seeded pool for every size: the trainer carves the same validation rows, then takes the first n
    assert [c.max_examples for _, c in tuner.trained] == [None, 30, 60]
    assert all(rows == tuner.trained[0][0] for rows, _ in tuner.trained)
    names = {v.name: v for v in result.variants}
    assert names["finetune@30"].purpose == "curve" and names["finetune@60"].probe
    [curve] = result.curves
    assert curve["name"] == "finetune" and curve["kind"] == "training"
    assert curve["sizes"] == [30, 60, 100] and curve["variants"] == ["finetune@30", "finetune@60", "finetune"]
    assert curve["scores"] == pytest.approx([3 / 12, 6 / 12, 10 / 12])
    assert curve["sentence"].startswith(("fine-tuning would need", "more data will not", "fine-tuning does not"))
    # the bill prices the ladder's fine-tune only; the curve's adapters are recorded with the run
    assert set(result.extra["finetune_costs"]) == {"finetune"}
    with Store(tmp_path / "s.db") as store:
        assert {a["name"] for a in store.artifacts(result.run_id)} == {"finetune", "finetune@30", "finetune@60"}
    assert result.decision is not None and [v.best for v in result.decision.rungs] == ["baseline", "finetune"]


def test_the_curve_is_printed_and_drawn(task: Task, tmp_path: Path, bow: Any) -> None:
    import xml.etree.ElementTree as ET

    from rich.console import Console

    from rungwise.report.charts import learning_curve as chart
    from rungwise.report.html import render_climb
    from rungwise.report.terminal import print_climb

    result = climb(task, FakeModel(_answer), ClimbOptions(store_path=tmp_path / "s.db", cache_dir=tmp_path / "c",
                                                          rungs=["fewshot"], curve=True))
    console = Console(record=True, width=200)
    print_climb(result.record(), console)
    text = console.export_text()
    assert "learning curve of fewshot-knn (10 rows" in text and result.curves[0]["sentence"][:40] in text
    assert "fewshot-knn@10 (curve)" in text
    with Store(tmp_path / "s.db") as store:
        page = render_climb(load_report(store, result.run_id))
    assert "id=\"curves\"" in page and "chart chart-curve" in page and "Checked: fitted on 10, 30 rows" in page
    svg = chart(result.curves[0])
    root = ET.fromstring(svg)  # well-formed, self-contained SVG
    assert root.tag.endswith("svg") and svg.count("class=\"point\"") == 3 and "class=\"band\"" in svg
    # hostile names are escaped
    assert "<script>" not in chart({**result.curves[0], "name": "<script>x</script>"})
