"""The prompt search on the real embedded model: a small budget on a copy of examples/nemo_itn, the embedded model
both answering and proposing, its calls cached and counted, its winner scored on eval rows it never read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.base import Completion, Request
from rungwise.models.embedded import EmbeddedModel
from rungwise.task.data import fold

from helpers import write_task

ROOT = Path(__file__).resolve().parents[2]


def _small_itn(tmp_path: Path) -> Path:
    src = ROOT / "examples" / "nemo_itn"
    toml = (src / "task.toml").read_text(encoding="utf-8").replace("sample = 200", "sample = 16")
    toml = toml.replace('task = "Rewrite', 'search_budget = 40\ndev_rows = 8\ntask = "Rewrite')
    toml += "\n[checks]\nnear_duplicates = false\n"

    def rows(name: str) -> list[dict[str, object]]:
        return [json.loads(line) for line in (src / name).read_text(encoding="utf-8").splitlines()]

    eval_rows = rows("eval.jsonl")[:16]
    held_out = {fold(str(r["input"])) for r in eval_rows}  # so a train row's call is never an eval row's
    train = [r for r in rows("train.jsonl") if fold(str(r["input"])) not in held_out][:60]
    return write_task(tmp_path / "itn", toml, train, eval_rows)


def test_a_small_search_on_the_embedded_model_is_measured_cached_and_kept_off_the_eval(
        embedded: EmbeddedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _small_itn(tmp_path)
    sent: list[Request] = []
    complete = embedded.complete

    async def recorded(request: Request) -> Completion:
        sent.append(request)
        return await complete(request)

    monkeypatch.setattr(embedded, "complete", recorded)
    db = tmp_path / "s.db"
    result = climb(folder, embedded, ClimbOptions(store_path=db, rungs=["prompt", "prompt-search"], all_rungs=True))
    record = result.record()
    s = record.prompt_search["prompt-search"]
    assert 8 <= s.metric_calls <= 40 and s.budget == 40 and s.proposals >= 1  # at least the grounded proposal
    assert s.task_model["calls"] > 0 and s.task_model["prompt_tokens"] > 0 and s.proposer_calls["calls"] >= 1
    assert s.seconds is not None and s.seconds > 0 and s.cost is not None and s.cost > 0
    assert s.dev_before is not None and s.dev_after is not None and s.dev_after >= s.dev_before
    assert s.winner and isinstance(s.winner["instruction"], str) and s.winner["instruction"].strip()
    assert s.stacked == (s.dev_after > s.dev_before)
    assert len(s.candidates) >= 2 and s.candidates[0]["origin"] == "clear prompt"
    searched = next(v for v in result.variants if v.name == "prompt-search")
    assert searched.n == 16  # the winner is judged on the eval like every rung
    # the search's calls are the proposer's and the task model's on train rows: no eval input reached the search
    eval_inputs = {fold(json.loads(line)["input"]) for line in (folder / "eval.jsonl").read_text().splitlines()}
    train_inputs = {fold(json.loads(line)["input"]) for line in (folder / "train.jsonl").read_text().splitlines()}
    search_calls = [r for r in sent if fold(r.messages[-1].content) in train_inputs]
    proposer_calls = [r for r in sent if len(r.messages) == 1]
    assert len(search_calls) == s.task_model["calls"] and len(proposer_calls) == s.proposer_calls["calls"]
    # every input the proposer was shown is a train row's (its other lines hold the model's own answers)
    shown = {fold(line.removeprefix("Input: ")) for r in proposer_calls
             for line in r.messages[-1].content.splitlines() if line.startswith("Input: ")}
    assert shown and shown <= train_inputs and not shown & eval_inputs
    eval_calls = 16 if s.winner["origin"] == "clear prompt" else 32  # the clear prompt's are cached for the rung
    assert len(sent) == len(search_calls) + len(proposer_calls) + eval_calls  # the rest: the variants' eval rows
    # the search is replayed from the response cache: a new climb makes no model call for it
    again = climb(folder, embedded, ClimbOptions(store_path=db, rungs=["prompt", "prompt-search"], all_rungs=True,
                                                 resume=False))
    s2 = again.record().prompt_search["prompt-search"]
    assert s2.winner == s.winner and s2.task_model["calls"] == 0 and s2.proposer_calls["calls"] == 0
    assert again.stats.calls == 0
