"""The prompt search: its loop with a scripted model and proposer, the dev/eval separation, the budget, and the
rung in a climb (cached calls, the record, the dry run, the export). The end-to-end search on the embedded model
is in tests/e2e/test_prompt_search_e2e.py."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rungwise import ClimbOptions, climb
from rungwise.cli import app
from rungwise.engine.estimate import Estimate, estimate_search
from rungwise.errors import TaskError
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.prompt_search.budget import PRESETS, SearchBudget, parse_search_budget
from rungwise.prompt_search.loop import Candidate, SearchResult, search, sign_test
from rungwise.prompt_search.reflection import Attempt, instruction_from
from rungwise.prompt_search.split import EvalRowInSearch, SearchRows, search_rows
from rungwise.record.stored import load_report
from rungwise.report.html import render_climb
from rungwise.report.terminal import print_climb
from rungwise.rungs.base import Variant
from rungwise.store import Store
from rungwise.task.data import Example, fold
from rungwise.task.spec import Task

from helpers import write_task

TOML = """
name = "shout"
description = "Rewrite the text."
instruction = "Rewrite this."
target = 0.9
[output]
type = "text"
[metric]
name = "exact_match"
[checks]
near_duplicates = false
[costs]
input_price_per_million = 0.15
output_price_per_million = 0.60
[prompt]
search_budget = 200
"""

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor"]
TRAIN = [{"input": f"{a} {b}", "target": f"{b} {a}"} for a in WORDS for b in WORDS[:4]]
EVAL = [{"input": f"{a} {b} eval", "target": f"eval {b} {a}"} for a in WORDS[:10] for b in WORDS[4:8]]
#: the rule the proposer finds: the task model reverses the words only when its instruction says so
RULE = "Write the words of the text in REVERSE order."


def _reverse(text: str) -> str:
    return " ".join(reversed(text.split()))


def _system(request: Request) -> str:
    return next((m.content for m in request.messages if m.role == "system"), "")


def respond(request: Request) -> str:
    """The task model reverses the words when the instruction says REVERSE; the proposer names the rule when it is shown
    a failure (a reflective prompt) and proposes something useless to a grounded one."""
    user = request.messages[-1].content
    if len(request.messages) == 1 and user.startswith("I gave an assistant"):
        return f"Here is a better one:\n```\n{RULE}\n```"
    if len(request.messages) == 1 and user.startswith("An assistant will be given"):
        return "```\nRewrite the text carefully.\n```"
    return _reverse(user) if "REVERSE" in _system(request) else user


def _task(tmp_path: Path, toml: str = TOML) -> Path:
    return write_task(tmp_path / "shout", toml, TRAIN, EVAL)


# -- the loop, scripted -------------------------------------------------------------------------------------------


def _rows(n_dev: int = 10, n_feedback: int = 20) -> SearchRows:
    ex = [Example(f"train:L{i}", f"w{i} x", f"x w{i}") for i in range(n_dev + n_feedback)]
    return SearchRows(tuple(ex[:n_dev]), tuple(ex[n_dev:]), frozenset({"eval:L1"}), frozenset({fold("held out")}))


def _scripted(seen: list[str]) -> tuple[object, object]:
    async def evaluate(instruction: str, batch: Sequence[Example]) -> list[Attempt]:
        seen.extend(ex.id for ex in batch)
        good = "REVERSE" in instruction
        return [Attempt(ex, ex.target if good else ex.input, 1.0 if good else 0.0, "") for ex in batch]

    async def propose(prompt: str) -> str:
        return f"```\n{RULE}\n```" if prompt.startswith("I gave") else "```\nDo it well please.\n```"

    return evaluate, propose


def test_the_search_finds_the_rule_the_failures_show_within_its_budget() -> None:
    seen: list[str] = []
    evaluate, propose = _scripted(seen)
    result = asyncio.run(search("Rewrite the text.", _rows(), evaluate, propose, budget=60, seed=0,  # type: ignore[arg-type]
                                description="Rewrite the text.", output_format=["Answer with the text."]))
    assert result.start.score == 0.0 and result.best.instruction == RULE and result.best.score == 1.0
    # 10 dev rows won, none lost; Bonferroni over the 2 other candidates it was picked from
    assert len(result.candidates) == 3 and result.dev_p == 2 * 0.5 ** 10 and result.beats_start
    assert result.best.origin == "reflection" and result.best.parent is not None
    assert result.metric_calls == len(seen) <= 60  # every metric call counted, none past the budget
    assert result.proposals >= 2 and {c.origin for c in result.candidates} >= {"clear prompt", "grounded"}
    assert not {i for i in seen if i.startswith("eval:")}


def test_a_proposal_no_better_on_its_minibatch_never_reaches_the_dev_rows() -> None:
    seen: list[str] = []
    evaluate, _ = _scripted(seen)
    proposals = iter(f"```\nInstruction number {i}.\n```" for i in range(1000))

    async def useless(prompt: str) -> str:
        return next(proposals)

    result = asyncio.run(search("Rewrite.", _rows(), evaluate, useless, budget=100, seed=1,  # type: ignore[arg-type]
                                description="d", output_format=[]))
    assert result.best is result.start  # a tie goes to the clear prompt
    assert len(result.candidates) == 2 and result.rejected == result.rounds  # clear prompt and the grounded one
    assert result.metric_calls <= 100


def test_a_one_row_gain_on_dev_is_the_winner_but_does_not_beat_the_clear_prompt() -> None:
    start = Candidate(0, "clear", "clear prompt", None, {f"r{i}": 0.0 for i in range(30)})
    lucky = Candidate(1, "lucky", "grounded", None, {**start.dev, "r0": 1.0})
    result = SearchResult([start, lucky], lucky, start, 60, 1, 0, 0)
    assert result.best is lucky and result.dev_p == 0.5 and not result.beats_start
    assert sign_test({"a": 1, "b": 1, "c": 0}, {"a": 0, "b": 0, "c": 1}) == 0.5  # 2 wins, 1 loss: 4/8
    assert sign_test({f"r{i}": 1.0 for i in range(5)}, {f"r{i}": 0.0 for i in range(5)}) == 1 / 32
    assert sign_test({"a": 0.5}, {"a": 0.5}) == 1.0  # no row differs: no evidence
    five = Candidate(2, "x", "reflection", 1, {f"r{i}": float(i < 5) for i in range(30)})
    assert SearchResult([start, five], five, start, 60, 1, 0, 0).dev_p == 1 / 32
    picked = SearchResult([start, lucky, five], five, start, 60, 1, 0, 0)  # the best of two others: p doubled
    assert picked.dev_p == 2 / 32 and not picked.beats_start


def test_the_search_never_spends_past_its_budget_even_on_many_dev_rows(tmp_path: Path) -> None:
    evaluate, propose = _scripted([])
    with pytest.raises(ValueError, match="do not fit a budget of 20"):
        asyncio.run(search("Rewrite.", _rows(n_dev=30), evaluate, propose, budget=20, seed=0,  # type: ignore[arg-type]
                           description="d", output_format=[]))
    folder = _task(tmp_path, TOML.replace("search_budget = 200", "search_budget = 20\ndev_rows = 300"))
    result = climb(folder, FakeModel(respond), ClimbOptions(store_path=tmp_path / "s.db", rungs=["prompt-search"]))
    s = result.record().prompt_search["prompt-search"]
    assert s.dev_rows == 10 and s.metric_calls <= 20  # the dev split shrinks to half the budget


def test_a_search_that_would_read_an_eval_row_fails() -> None:
    rows = _rows()
    leaky = SearchRows(rows.dev + (Example("eval:L1", "w0 x", "W0 X"),), rows.feedback, rows.eval_ids,
                       rows.eval_inputs)
    evaluate, propose = _scripted([])
    with pytest.raises(EvalRowInSearch, match="eval row 'eval:L1'"):
        asyncio.run(search("Rewrite.", leaky, evaluate, propose, budget=60, seed=0,  # type: ignore[arg-type]
                           description="d", output_format=[]))
    disguised = SearchRows(rows.dev + (Example("train:L99", "Held out!", "x"),), rows.feedback, rows.eval_ids,
                           rows.eval_inputs)  # a train row whose input is an eval input, after folding
    with pytest.raises(EvalRowInSearch):
        disguised.guard(disguised.dev)
    with pytest.raises(EvalRowInSearch, match="not in its dev split"):
        rows.guard([Example("train:L500", "other", "x")])


def test_the_dev_split_leaves_out_every_train_row_that_is_an_eval_input(tmp_path: Path) -> None:
    train = TRAIN + [{"input": "Alpha  Eval!", "target": "x"}, {"input": EVAL[0]["input"].title(), "target": "y"}]
    eval_rows = EVAL + [{"input": "alpha eval", "target": "ALPHA EVAL"}]
    task = Task.load(write_task(tmp_path / "t", TOML, train, eval_rows))
    rows = search_rows(task, seed=0)
    assert rows is not None and len(rows.dev) == 30 and rows.feedback
    eval_inputs = {fold(ex.input) for ex in task.eval}
    read = rows.dev + rows.feedback
    assert not {fold(ex.input) for ex in read} & eval_inputs and all(ex.id.startswith("train:") for ex in read)
    assert not {ex.id for ex in rows.dev} & {ex.id for ex in rows.feedback}
    assert search_rows(task, seed=0) == rows and search_rows(task, seed=1) != rows  # seeded
    small = Task.load(write_task(tmp_path / "s", TOML, TRAIN[:11], EVAL))
    assert search_rows(small, seed=0) is None


def test_budget_presets_and_errors(tmp_path: Path) -> None:
    assert parse_search_budget(None) == SearchBudget(PRESETS["light"], "light")
    assert parse_search_budget("heavy").metric_calls == 1200 and parse_search_budget(250).name == "custom"
    assert parse_search_budget("300") == SearchBudget(300, "custom")
    for bad in ("lots", 5, True, "-3"):
        with pytest.raises(ValueError):
            parse_search_budget(bad)  # type: ignore[arg-type]
    folder = _task(tmp_path, TOML.replace("search_budget = 200", 'search_budget = "huge"'))
    with pytest.raises(TaskError, match=r"(?s)task\.toml.*search_budget.*light, medium, heavy"):
        Task.load(folder)


def test_the_proposers_text_is_cut_to_one_clean_instruction() -> None:
    assert instruction_from("Sure!\n```text\nSay it loud.\n```\nmore") == "Say it loud."
    cleaned = instruction_from("Say it\x1b[31m loud\x00 now.\x07")
    assert cleaned is not None and cleaned.startswith("Say it") and cleaned.endswith("now.")
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned)
    assert instruction_from("```\n\n```") is None and instruction_from("") is None
    long = instruction_from("word " * 1000)
    assert long is not None and len(long) <= 1201


# -- the rung in a climb ------------------------------------------------------------------------------------------


def test_a_climb_searches_before_few_shot_records_the_search_and_replays_it_from_the_cache(tmp_path: Path) -> None:
    folder = _task(tmp_path)
    db = tmp_path / "s.db"
    model = FakeModel(respond)
    result = climb(folder, model, ClimbOptions(store_path=db, rungs=["prompt", "prompt-search", "fewshot"],
                                               all_rungs=True))
    names = [v.name for v in result.variants]
    assert names.index("prompt") < names.index("prompt-search") < names.index("fewshot-fixed")
    searched = next(v for v in result.variants if v.name == "prompt-search")
    prompt = next(v for v in result.variants if v.name == "prompt")
    assert prompt.score == 0.0 and searched.score == 1.0  # the winner, judged on the eval rows
    record = result.record()
    s = record.prompt_search["prompt-search"]
    assert s.dev_before < 0.1 and s.dev_after == 1.0 and s.winner and s.winner["instruction"] == RULE  # "alpha alpha"
    assert 0 < s.metric_calls <= 200 and s.proposals >= 1 and s.cost is not None and s.cost > 0
    assert s.stacked and s.task_model["calls"] > 0 and s.proposer_calls["calls"] >= 1
    eval_inputs = {r["input"] for r in EVAL}
    search_requests = [r for r in model.calls if "REVERSE" in _system(r) or r.messages[-1].content in
                       {t["input"] for t in TRAIN}]
    assert search_requests and not any(r.messages[-1].content in eval_inputs for r in search_requests
                                       if r.messages[-1].content in {t["input"] for t in TRAIN})
    # few-shot builds on the winning instruction (stacked) and so scores too
    assert all(RULE in _system(r) for r in model.calls if len(r.messages) > 2)
    # the search's calls are cached: a new climb of the same task replays it without one
    again = FakeModel(respond)
    second = climb(folder, again, ClimbOptions(store_path=db, rungs=["prompt", "prompt-search"], all_rungs=True,
                                               resume=False))
    s2 = second.record().prompt_search["prompt-search"]
    assert s2.winner == s.winner and s2.task_model["calls"] == 0 and s2.proposer_calls["calls"] == 0
    assert s2.task_model["cache_hits"] == s.task_model["calls"] + s.task_model["cache_hits"]


def test_a_search_that_does_not_win_on_dev_leaves_the_rungs_above_on_the_clear_prompt(tmp_path: Path) -> None:
    folder = _task(tmp_path)

    def never(request: Request) -> str:
        if len(request.messages) == 1:
            return "```\nTry harder.\n```"
        return request.messages[-1].content

    model = FakeModel(never)
    result = climb(folder, model, ClimbOptions(store_path=tmp_path / "s.db", rungs=["prompt-search", "fewshot"],
                                               all_rungs=True))
    s = result.record().prompt_search["prompt-search"]
    assert s.dev_after == s.dev_before < 0.1 and not s.stacked
    assert s.winner and s.winner["origin"] == "clear prompt"
    assert result.record().shipped is None
    assert re.search(r"The prompt search was tried: its best instruction \((\d+)% to \1% on its dev rows\) scored "
                     r"0\.0% on the eval as 'prompt-search', short of the target of 90%",
                     result.record().decision.recommendation)
    assert not any("Try harder" in _system(r) for r in model.calls if len(r.messages) > 2)


def test_the_dry_run_shows_the_search_budget_before_any_call(tmp_path: Path) -> None:
    folder = _task(tmp_path)
    model = FakeModel(respond)
    result = climb(folder, model, ClimbOptions(store_path=tmp_path / "s.db", rungs=["prompt-search"], dry_run=True))
    assert model.calls == []
    est = {e.variant: e for e in result.estimates}
    assert est["prompt-search (search)"].calls == 200 + 1 + 200 // 8 and est["prompt-search (search)"].cost > 0


def test_the_search_can_be_turned_off_and_skips_without_train_rows(tmp_path: Path) -> None:
    off = _task(tmp_path, TOML + "search = false\n")
    result = climb(off, FakeModel(respond), ClimbOptions(store_path=tmp_path / "s.db", rungs=["prompt-search"]))
    assert "search = false" in result.skipped["prompt-search"]
    few = write_task(tmp_path / "few", TOML, TRAIN[:5], EVAL)
    result = climb(few, FakeModel(respond), ClimbOptions(store_path=tmp_path / "s.db", rungs=["prompt-search"]))
    assert "too few rows" in result.skipped["prompt-search"]


def test_export_prompt_writes_the_winning_prompt_of_a_run(tmp_path: Path) -> None:
    folder = _task(tmp_path)
    db = tmp_path / "s.db"
    result = climb(folder, FakeModel(respond), ClimbOptions(store_path=db, rungs=["prompt-search"]))
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["export-prompt", result.run_id, "--store", str(db), "--out", str(out)])
    assert run.exit_code == 0, run.output
    text = (out / "shout.prompt-search.system.txt").read_text(encoding="utf-8")
    assert text.startswith(f"Task: {RULE}") and "Output format:" in text
    meta = json.loads((out / "shout.prompt-search.json").read_text(encoding="utf-8"))
    assert meta["instruction"] == RULE and meta["dev_after"] == 1.0 and meta["variant"] == "prompt-search"
    missing = CliRunner().invoke(app, ["export-prompt", "no-such-run", "--store", str(db), "--out", str(out)])
    assert missing.exit_code == 2 and "no-such-run" in missing.output


HOSTILE = "Write the words in REVERSE order <script>alert(1)</script> [bold]now[/bold]\x1b[31m."


def test_the_summary_and_the_report_show_the_search_and_escape_its_instruction(tmp_path: Path) -> None:
    """The proposer's text is model output: shown in the terminal table and the HTML report, escaped, with the
    search's figures and the recommendation's sentence on it."""
    def hostile(request: Request) -> str:
        user = request.messages[-1].content
        if len(request.messages) == 1:
            return f"```\n{HOSTILE}\n```" if user.startswith("I gave") else "```\nRewrite it.\n```"
        return _reverse(user) if "REVERSE" in _system(request) else user

    folder = _task(tmp_path)
    db = tmp_path / "s.db"
    result = climb(folder, FakeModel(hostile), ClimbOptions(store_path=db, rungs=["prompt", "prompt-search"]))
    record = result.record()
    assert record.shipped == "prompt-search"
    assert re.search(r"The prompt search closed the gap for \d\.\d{4} USD once: fine-tuning was not needed, nor "
                     r"88 labelled rows \(\d+\.\d\d USD at the task's labelling price\), its training, and a "
                     r"retraining at each of the 4 base-model updates a year\.", record.decision.recommendation)
    console = Console(record=True, width=220)
    print_climb(record, console)
    text = console.export_text()
    s = record.prompt_search["prompt-search"]
    assert "prompt search" in text and "dev before" in text and f"{s.metric_calls:,}/200" in text
    assert "one-off costs: prompt search" in text and f"export-prompt {result.run_id}" in text
    assert "<script>alert(1)</script> [bold]now[/bold]" in text and "\x1b" not in text  # markup shown, not obeyed
    with Store(db) as store:
        page = render_climb(load_report(store, result.run_id))
    assert 'id="prompt-search"' in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "\x1b" not in page


def test_max_cost_prices_the_search_before_it_makes_a_call(tmp_path: Path) -> None:
    folder = _task(tmp_path)
    model = FakeModel(respond)
    options = ClimbOptions(store_path=tmp_path / "s.db", rungs=["prompt", "prompt-search"], all_rungs=True)
    planned = climb(folder, FakeModel(respond), options.model_copy(update={'dry_run': True}))
    prompt_cost = next(e.cost for e in planned.estimates if e.variant == "prompt")
    search_cost = sum(e.cost for e in planned.estimates if e.variant.startswith("prompt-search"))
    capped = climb(folder, model, options.model_copy(update={'max_cost': prompt_cost + search_cost / 2}))
    assert [v.name for v in capped.variants] == ["prompt"]
    assert "what it calls while it prepares" in capped.skipped["prompt-search"]
    assert not [r for r in model.calls if len(r.messages) == 1]  # no proposal, no dev row: nothing searched
    assert len(model.calls) == capped.variants[0].n  # the prompt rung's eval rows only
    roomy = climb(folder, FakeModel(respond), options.model_copy(update={'max_cost': (prompt_cost + search_cost) * 2,
                                                                         'resume': False}))
    assert "prompt-search" in [v.name for v in roomy.variants]
    assert roomy.record().prompt_search["prompt-search"].cost <= search_cost


def test_the_search_is_priced_once_whatever_its_twins_and_variants(tmp_path: Path) -> None:
    plan = {"search": {"planned": True, "budget": 120}}
    searched = Variant("prompt-search", "prompt-search", config=plan)
    twin = Variant("prompt-search-constrained", "prompt-search", config=plan, twin_of="prompt-search")
    per_eval = Estimate("prompt-search", 10, 1000, 100, 0.01)
    costs = Task.load(_task(tmp_path)).spec.costs
    assert estimate_search(searched, per_eval, costs, costs) is not None
    assert estimate_search(twin, per_eval, costs, costs) is None  # one search for both
    # --variants that names none of the search's variants: the search is not run (it would be paid for nothing)
    model = FakeModel(respond)
    result = climb(_task(tmp_path / "v"), model, ClimbOptions(store_path=tmp_path / "s.db", all_rungs=True,
                                                              rungs=["prompt", "prompt-search"], variants=["prompt"]))
    assert [v.name for v in result.variants] == ["prompt"]
    assert "--variants names none of its variants" in result.skipped["prompt-search"]
    assert len(model.calls) == result.variants[0].n
