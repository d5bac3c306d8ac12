from __future__ import annotations

from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, checked_task, climb
from rungwise.errors import TaskError
from rungwise.models.fake import FakeModel
from rungwise.task.checks import exact_leaks, run_checks
from rungwise.task.spec import Task

from helpers import LABEL_TOML, write_task
from rungs.fakes import BagOfWordsEmbedder

ROOT = Path(__file__).resolve().parents[1]

LONG = " ".join(f"word{i}" for i in range(60))
TRAIN = [
    {"input": "I was charged twice!", "target": "billing"},
    {"input": "i was charged twice", "target": "technical"},  # a conflict within train
    {"input": "The app crashes", "target": "technical"},
    {"input": "The app crashes", "target": "technical"},  # a duplicate
    {"input": LONG, "target": "sales"},
]
EVAL = [
    {"input": "the APP crashes.", "target": "technical"},  # exact leak after folding
    {"input": LONG.lower() + " please", "target": "sales"},  # near: one word more in 60
    {"input": "Where is my refund", "target": "billing"},
]


@pytest.fixture
def task(tmp_path: Path) -> Task:
    return Task.load(write_task(tmp_path / "t", LABEL_TOML, TRAIN, EVAL))


def test_findings(task: Task) -> None:
    report = run_checks(task, embedder=BagOfWordsEmbedder(), cache_dir=None)
    codes = {f.code: f for f in report.findings}
    assert codes["leakage-exact"].count == 1 and codes["leakage-exact"].rows == ["eval:L1"]
    assert codes["leakage-near"].count == 1 and codes["leakage-near"].rows[0].startswith("eval:L2~train:L5")
    assert report.leaked == {"eval:L1", "eval:L2"}
    assert codes["duplicates-train"].count == 2
    assert codes["conflicts-train"].count == 1
    assert codes["eval-size"].severity == "warning"
    # three rows detect no difference at all: said in words, never "about inf%"
    assert "inf" not in codes["eval-size"].message and "none at all" in codes["eval-size"].message


def test_a_near_twin_with_another_target_is_not_leakage(tmp_path: Path) -> None:
    """Memorising a near-identical input with another answer gives the wrong answer: not leakage."""
    train = [{"input": LONG, "target": "sales"}, {"input": "The app crashes", "target": "technical"}]
    evals = [{"input": LONG.lower() + " please", "target": "billing"},  # near twin, other target
             {"input": LONG.lower() + " now", "target": "sales"}]  # near twin, same target: leakage
    task = Task.load(write_task(tmp_path / "t", LABEL_TOML, train, evals))
    report = run_checks(task, embedder=BagOfWordsEmbedder())
    assert report.leaked == {"eval:L2"}


@pytest.mark.slow
def test_number_words_in_another_order_are_not_leakage(tmp_path: Path) -> None:
    """nemo_itn's real case: MiniLM puts these at cosine 1.00, yet the answers differ."""
    from rungwise.retrieval.embeddings import default_embedder
    from rungwise.task.checks import near_leaks

    toml = 'name = "itn"\ninstruction = "Convert."\ntarget = 0.9\n[output]\ntype = "text"\n[metric]\nname = "exact_match"\n'
    train = [{"input": "eighteen thousand eight hundred seventy five dollars", "target": "$18875"}]
    evals = [{"input": "eighteen thousand five hundred seventy eight dollars", "target": "$18578"},
             {"input": "Eighteen thousand eight hundred seventy five dollars.", "target": "$18875"}]
    task = Task.load(write_task(tmp_path / "t", toml, train, evals))
    assert set(near_leaks(task, default_embedder(), tmp_path)) == {"eval:L2"}


def test_leakage_policy(task: Task) -> None:
    report = run_checks(task, embedder=BagOfWordsEmbedder())
    with pytest.raises(TaskError, match="2 eval rows leak from train"):
        checked_task(task, ClimbOptions(), report)
    dropped = checked_task(task, ClimbOptions(leakage="drop"), report)
    assert [ex.id for ex in dropped.eval] == ["eval:L3"]
    assert checked_task(task, ClimbOptions(leakage="warn"), report) is task


def test_climb_stops_on_leakage_unless_overridden(task: Task, tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="leak"):
        climb(task, FakeModel(lambda r: "billing"), ClimbOptions(store_path=tmp_path / "s.db"))
    result = climb(task, FakeModel(lambda r: "billing"), ClimbOptions(store_path=tmp_path / "s.db", leakage="drop"))
    assert result.n_eval == 1 and result.checks is not None and result.checks.leaked


def test_exact_leakage_stops_the_climb_before_any_embedding(task: Task, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import rungwise.retrieval.embeddings

    def no_embedding(*args: object, **kwargs: object) -> None:
        raise AssertionError("embedded before saying the climb stops")

    monkeypatch.setattr(rungwise.retrieval.embeddings, "encode_cached", no_embedding)
    with pytest.raises(TaskError, match="leak from train"):
        climb(task, FakeModel(lambda r: "billing"), ClimbOptions(store_path=tmp_path / "s.db"))


def test_banking77_leaks_are_found() -> None:
    task = Task.load(ROOT / "examples" / "banking77")
    assert len(exact_leaks(task)) == 25


def test_json_targets_outside_fields(tmp_path: Path) -> None:
    toml = 'name = "t"\ninstruction = "x"\ntarget = 0.5\n[output]\ntype = "json"\nfields = ["a"]\n'
    task = Task.load(write_task(tmp_path / "j", toml, None, [{"input": "q", "target": {"a": "1", "zz": "2"}}]))
    report = run_checks(task, near=False)
    assert any(f.code == "target-breaks-spec" and f.rows == ["eval:L1"] for f in report.findings)


def test_missing_labels_and_imbalance(tmp_path: Path) -> None:
    train = [{"input": f"bill {i}", "target": "billing"} for i in range(30)] + [{"input": "x", "target": "sales"}]
    task = Task.load(write_task(tmp_path / "i", LABEL_TOML, train, [{"input": "q", "target": "sales"}]))
    codes = {f.code: f for f in run_checks(task, near=False).findings}
    assert codes["labels-without-examples"].rows == ["technical"]
    assert "'billing' has 30 rows" in codes["label-imbalance"].message


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nemo_itn", "usaddress", "xquad_en"])
def test_shipped_examples_pass_their_own_leakage_policy(name: str, tmp_path: Path) -> None:
    """`rungwise climb examples/X` must not stop on the checks (banking77, 10k train rows, is climbed elsewhere)."""
    task = Task.load(ROOT / "examples" / name)
    report = run_checks(task, cache_dir=tmp_path)
    kept = checked_task(task, ClimbOptions(), report)
    assert len(kept.eval) >= len(task.eval) - 2
