from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.engine.runner import Runner
from rungwise.metrics.scoring import Scorer
from rungwise.models.base import Message, Request
from rungwise.models.fake import FakeModel
from rungwise.rungs.base import Variant
from rungwise.store import Store
from rungwise.task.spec import Task


def _variant() -> Variant:
    return Variant("v", "prompt", build=lambda ex: Request((Message("user", ex.input),), max_tokens=5))


def test_runner_caches_and_resumes(label_task: Path, store: Store) -> None:
    task = Task.load(label_task)
    model = FakeModel(lambda r: "billing")
    run = store.create_run("t", "f", "h", model.fingerprint, {})
    runner = Runner(store, run, Scorer(task))
    rows = asyncio.run(runner.run(_variant(), task.eval, model))
    assert [r.score for r in rows] == [1.0, 0.0, 0.0] and len(model.calls) == 3
    assert [r.failure for r in rows] == [None, "content", "content"]

    # same run again: everything is already recorded, nothing is called
    runner2 = Runner(store, run, Scorer(task))
    asyncio.run(runner2.run(_variant(), task.eval, model))
    assert len(model.calls) == 3 and runner2.stats.resumed == 3

    # a new run of the same requests: answered from the cache
    run_b = store.create_run("t", "f", "h", model.fingerprint, {})
    runner3 = Runner(store, run_b, Scorer(task))
    rows3 = asyncio.run(runner3.run(_variant(), task.eval, model))
    assert len(model.calls) == 3 and runner3.stats.cache_hits == 3 and all(r.from_cache for r in rows3)

    # another model must not see that cache
    other = FakeModel(lambda r: "sales", name="other")
    run_c = store.create_run("t", "f", "h", other.fingerprint, {})
    rows_c = asyncio.run(Runner(store, run_c, Scorer(task)).run(_variant(), task.eval, other))
    assert len(other.calls) == 3 and [r.score for r in rows_c] == [0.0, 0.0, 1.0]


def test_interrupted_run_keeps_finished_results(label_task: Path, store: Store) -> None:
    task = Task.load(label_task)

    def flaky(request: Request) -> str:
        if "password" in request.messages[-1].content:
            raise KeyboardInterrupt
        return "billing"

    model = FakeModel(flaky)
    run = store.create_run("t", "f", "h", model.fingerprint, {})
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(Runner(store, run, Scorer(task), concurrency=1).run(_variant(), task.eval, model))
    assert store.done_examples(run, "v") == {"eval:L1"}
    good = FakeModel(lambda r: "technical")
    runner = Runner(store, run, Scorer(task))
    rows = asyncio.run(runner.run(_variant(), task.eval, good))
    assert [r.output for r in rows] == ["billing", "technical", "technical"] and len(good.calls) == 2


def test_answers_reach_the_store_while_the_run_goes_on(label_task: Path, store: Store) -> None:
    """Answers are committed a loop turn after they arrive (or GROUP_S after the previous commit), not at the
    end of the variant."""
    task = Task.load(label_task)
    run = store.create_run("t", "f", "h", "fake:fake", {})
    seen: list[int] = []

    def answer(request: Request) -> str:
        seen.append(len(store.done_examples(run, "v")))  # what a kill at this moment would leave
        return "billing"

    model = FakeModel(answer, delay_s=0.01)
    asyncio.run(Runner(store, run, Scorer(task), concurrency=1).run(_variant(), task.eval, model))
    assert seen == [0, 1, 2]


def test_fast_answers_share_commits_and_slow_ones_commit_at_once(label_task: Path, store: Store,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commit: answers arriving within GROUP_S of a commit wait for the next one together; an answer that
    arrives later than that is committed on the next loop turn, alone."""
    from rungwise.engine.runner import GROUP_S
    from rungwise.task.data import Example

    task = Task.load(label_task)
    commits: list[int] = []
    add_results = store.add_results

    def counted(run_id: str, rows: list) -> None:  # type: ignore[type-arg]
        commits.append(len(rows))
        add_results(run_id, rows)

    monkeypatch.setattr(store, "add_results", counted)
    rows = [Example(f"e{i}", f"text {i}", "billing") for i in range(400)]
    fast = store.create_run("t", "f", "h", "fake:fast", {})
    quick = FakeModel(lambda r: "billing", delay_s=0.0001)  # each answer comes back on a loop turn of its own
    start = time.monotonic()
    asyncio.run(Runner(store, fast, Scorer(task), concurrency=8).run(_variant(), rows, quick))
    elapsed = time.monotonic() - start
    assert sum(commits) == 400 and len(store.done_examples(fast, "v")) == 400
    # commits are GROUP_S apart, but for the last; a commit per loop turn would be about 100 (in ~50 ms here)
    assert len(commits) <= elapsed / GROUP_S + 2, (commits, elapsed)

    commits.clear()
    slow = store.create_run("t", "f", "h", "fake:slow", {})
    model = FakeModel(lambda r: "billing", name="slow", delay_s=GROUP_S * 2)
    asyncio.run(Runner(store, slow, Scorer(task), concurrency=1).run(_variant(), rows[:4], model))
    assert commits == [1, 1, 1, 1]


def test_a_store_failure_stops_the_run_instead_of_vanishing(label_task: Path, store: Store,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit the event loop runs must not fail silently: the run raises it."""
    from rungwise.errors import StoreError

    task = Task.load(label_task)
    run = store.create_run("t", "f", "h", "fake:fake", {})

    def broken(run_id: str, rows: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "add_results", broken)
    model = FakeModel(lambda r: "billing", delay_s=0.01)
    with pytest.raises(StoreError, match="disk full"):
        asyncio.run(Runner(store, run, Scorer(task), concurrency=1).run(_variant(), task.eval, model))
    assert len(model.calls) < 3


def test_answers_before_an_error_are_kept_on_every_path(label_task: Path, store: Store) -> None:
    """Answers recorded in batches (references, cache hits) are committed before an error propagates."""
    from rungwise.task.data import Example

    task = Task.load(label_task)
    run = store.create_run("t", "f", "h", "fake:fake", {})
    rows = [Example(f"e{i}", f"text {i}", "billing") for i in range(300)]

    def answer(ex: Example) -> str:
        if ex.id == "e280":  # past the first batch of 256
            raise KeyboardInterrupt
        return "billing"

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(Runner(store, run, Scorer(task)).run(Variant("ref", "fewshot", answer=answer), rows, FakeModel()))
    assert store.done_examples(run, "ref") == {f"e{i}" for i in range(280)}

    # the same through the cache: 300 cached answers, an interruption while recording them
    model = FakeModel(lambda r: "billing")
    first = store.create_run("t", "f", "h", model.fingerprint, {})
    asyncio.run(Runner(store, first, Scorer(task)).run(_variant(), rows, model))
    second = store.create_run("t", "f", "h", model.fingerprint, {})
    runner = Runner(store, second, Scorer(task), progress=lambda event: _stop_at(event.done, 270))
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(runner.run(_variant(), rows, model))
    assert len(store.done_examples(second, "v")) == 270 and len(model.calls) == 300


def _stop_at(done: int, limit: int) -> None:
    if done == limit:
        raise KeyboardInterrupt


def test_climb_stops_at_first_rung_meeting_target(label_task: Path, tmp_path: Path) -> None:
    task = Task.load(label_task)
    gold = {ex.input: ex.target for ex in task.eval}

    def answer(request: Request) -> str:
        if request.messages[0].role == "system":  # the prompt rung
            return gold[request.messages[-1].content]
        return "I am not sure"

    result = climb(task, FakeModel(answer), ClimbOptions(store_path=tmp_path / "s.db"))
    names = [v.name for v in result.variants]
    assert names == ["baseline", "prompt", "prompt-constrained"] and result.shipped == "prompt"
    base = result.variants[0]
    assert base.score == 0.0 and base.format_failures == 3
    assert result.variants[1].score == 1.0
    assert "Ship 'prompt'" in result.recommendation
    assert result.budget["stop"] == ["\n"]


def test_climb_only_some_rungs_and_unknown_rung(label_task: Path, tmp_path: Path) -> None:
    result = climb(label_task, FakeModel(lambda r: "billing"), ClimbOptions(rungs=["prompt"], store_path=tmp_path / "s.db"))
    assert [v.name for v in result.variants] == ["prompt", "prompt-constrained"]
    from rungwise.errors import TaskError

    with pytest.raises(TaskError, match="Unknown rung 'finetuned'"):
        climb(label_task, FakeModel(), ClimbOptions(rungs=["finetuned"], store_path=tmp_path / "s.db"))


def test_dry_run_calls_nothing_and_trains_nothing(label_task: Path, tmp_path: Path) -> None:
    from rungwise.models.embedded import EmbeddedModel

    class TunableFake(FakeModel):
        fine_tunable = True

    model = TunableFake(lambda r: "billing")
    result = climb(label_task, model, ClimbOptions(dry_run=True, store_path=tmp_path / "s.db"))
    assert model.calls == [] and result.variants == []
    assert {e.variant for e in result.estimates} >= {"baseline", "prompt", "fewshot-fixed"}
    assert all(e.prompt_tokens > 0 for e in result.estimates if e.calls)
    assert "dry run" in result.skipped["finetune"]
    assert EmbeddedModel.fine_tunable


def test_finetune_is_priced_against_the_best_rung_when_none_meets_the_target(label_task: Path, store: Store) -> None:
    from rungwise.engine.job import VariantOutcome, finetune_bill
    from rungwise.judge.costs import price
    from rungwise.judge.summary import VariantSummary
    from rungwise.rungs.base import Variant

    task = Task.load(label_task)  # target 0.9 (or whatever the fixture sets): no rung below meets it here

    def summary(name: str, rung: str, score: float, tokens: float) -> VariantSummary:
        return VariantSummary(name, rung, False, 100, score, score, score, "wilson", 0, 0, tokens, 5, 0.1, 0.1, 0.1)

    summaries = [summary("prompt", "prompt", 0.10, 600), summary("fewshot-knn", "fewshot", 0.50, 800),
                 summary("fewshot-knn-constrained", "fewshot", 0.45, 800), summary("finetune", "finetune", 0.40, 50)]
    assert all(s.score < task.spec.target for s in summaries)
    costs = {s.name: price(s.name, s.mean_prompt_tokens, 5, task.spec.costs) for s in summaries}
    adapter = [("finetune", "lora-gguf", "adapter.gguf", {"examples": 900, "train_seconds": 300.0})]
    outcomes = [VariantOutcome(Variant(s.name, s.rung), s, [], adapter if s.rung == "finetune" else []) for s in summaries]
    out = finetune_bill(task, outcomes, costs)
    assert out["finetune"].reference == "fewshot-knn"
