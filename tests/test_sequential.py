"""The sequential rule of `climb --decide`: its schedule, its alpha spending, its error over all looks (simulated),
the next step it prices, and a climb that scores more rows where the verdict hangs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.judge import sequential, stats
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.store import Store

#: banking77: 200 rows first, 3,055 eval rows after the leaked ones are dropped
FIRST, CAP = 200, 3055


def test_schedule_budget_and_spending() -> None:
    assert sequential.schedule(FIRST, CAP) == [200, 395, 782, 1545, 3055]
    assert sequential.schedule(200, 300) == [200, 300] and sequential.schedule(200, 200) == [200]
    assert sequential.schedule(200, 10_000) == [200, 532, 1414, 3761, 10_000]  # at most MAX_LOOKS looks
    for kind in ("pocock", "obrien-fleming", "bonferroni"):
        levels = sequential.alphas(5, kind=kind)  # type: ignore[arg-type]
        assert sum(levels) == pytest.approx(sequential.ALPHA) and all(a > 0 for a in levels)
    pocock = sequential.alphas(5)
    assert pocock == sorted(pocock, reverse=True)  # the first look (the plain climb's rows) keeps the most
    assert sequential.parse_budget("1500 rows") == sequential.Budget(rows=1500)
    assert sequential.parse_budget("20min") == sequential.Budget(minutes=20)
    assert sequential.parse_budget("2.5 USD") == sequential.Budget(cost=2.5)
    assert sequential.parse_budget(None) == sequential.Budget()
    for bad in ("many", "-3 rows", "0 min", "12"):
        with pytest.raises(ValueError):
            sequential.parse_budget(bad)


def test_the_target_test_is_the_clopper_pearson_interval_inverted() -> None:
    x = np.array([1.0] * 175 + [0.0] * 25)
    low, high = sequential.target_interval(x, binary=True, alpha=0.05)
    assert (low, high) == pytest.approx((0.82103, 0.91745), abs=1e-4)
    assert sequential.target_p_value(x, low - 1e-4, binary=True) < 0.05 < sequential.target_p_value(x, low + 1e-4, binary=True)
    assert sequential.target_p_value(x, high + 1e-4, binary=True) < 0.05 < sequential.target_p_value(x, high - 1e-4, binary=True)


def _sim_target(rng: np.random.Generator, p: float, binary: bool, looks: list[int], levels: list[float],
                target: float) -> int | None:
    """One simulated decision of "does it meet the target": the look it settles at (1-based), None if never."""
    draw = (rng.random(looks[-1]) < p).astype(float) if binary else rng.beta(p * 4, (1 - p) * 4, looks[-1])
    for k, (n, a) in enumerate(zip(looks, levels, strict=True), 1):
        if sequential.target_p_value(draw[:n], target, binary=binary) < a:
            return k
    return None


@pytest.mark.parametrize("binary", [True, False])
def test_a_variant_at_the_target_is_rarely_settled_either_way(binary: bool) -> None:
    """The target claim's error: a variant whose true score is the target declared above or below it, at any of
    the five looks (200 to 3,055 rows). Simulated over 4,000 decisions it stays at or under ALPHA; testing at 5%
    at every look instead would not."""
    rng = np.random.default_rng(0)
    looks, levels, trials, target = sequential.schedule(FIRST, CAP), sequential.alphas(5), 4000, 0.85
    wrongly = sum(_sim_target(rng, target, binary, looks, levels, target) is not None for _ in range(trials)) / trials
    assert wrongly <= sequential.ALPHA
    if binary:
        naive = sum(_sim_target(rng, target, binary, looks, [0.05] * 5, target) is not None
                    for _ in range(trials)) / trials
        assert naive > sequential.ALPHA  # the inflation the spending prevents
        # and a variant 4 points above the target is settled ("meets") in most decisions, mostly before the end
        settled = [_sim_target(rng, 0.89, binary, looks, levels, target) for _ in range(500)]
        assert sum(s is not None for s in settled) / 500 > 0.9
        assert sum(s is not None and s <= 3 for s in settled) / 500 > 0.5


def _sim_versus(rng: np.random.Generator, discordance: float, lift: float, looks: list[int],
                levels: list[float]) -> int | None:
    """One simulated comparison of two pass/fail variants on the same rows: a row is discordant with probability
    `discordance`, in the second variant's favour with probability (1 + lift) / 2."""
    n = looks[-1]
    a = (rng.random(n) < 0.88).astype(float)
    b = a.copy()
    flip = rng.random(n) < discordance
    up = rng.random(n) < (1 + lift) / 2
    a[flip], b[flip] = np.where(up[flip], 0.0, 1.0), np.where(up[flip], 1.0, 0.0)
    for k, (m, level) in enumerate(zip(looks, levels, strict=True), 1):
        if stats.compare(a[:m], b[:m]).p_value < level:  # what stats.compare_rows runs on the shared rows
            return k
    return None


def test_two_variants_with_the_same_score_are_rarely_told_apart() -> None:
    """The comparison's error: two variants with the same true score declared different at any look. Simulated
    over 3,000 decisions with 10% discordant rows (the kNN label against kNN few-shot on banking77: 12%)."""
    rng = np.random.default_rng(1)
    looks, levels, trials = sequential.schedule(FIRST, CAP), sequential.alphas(5), 3000
    wrongly = sum(_sim_versus(rng, 0.10, 0.0, looks, levels) is not None for _ in range(trials)) / trials
    assert wrongly <= sequential.ALPHA
    # a true lift of 2.5 points (a quarter of the discordant rows' balance) is found in most decisions
    found = sum(_sim_versus(rng, 0.10, 0.25, looks, levels) is not None for _ in range(300)) / 300
    assert found > 0.8


# -- a climb with --decide, on the fake model ------------------------------------------------------------------------

LABELS = ["billing", "technical", "sales"]


def _task(tmp_path: Path, rows: int, sample: int) -> Path:
    from helpers import LABEL_TOML_EXACT, write_task

    evals = [{"input": f"message number {i} about {LABELS[i % 3]}", "target": LABELS[i % 3]} for i in range(rows)]
    train = [{"input": f"train message {i}", "target": LABELS[i % 3]} for i in range(6)]
    toml = LABEL_TOML_EXACT + f"[eval]\nsample = {sample}\nseed = 0\n"
    return write_task(tmp_path / "route", toml, train, evals)


def _answers(miss: int) -> Any:
    """The baseline never answers a label; the prompt rung answers `miss` rows in 100 wrong (spread by a hash)."""

    def answer(request: Request) -> str:
        text = request.messages[-1].content
        if request.messages[0].role != "system":
            return "I am not sure"
        i = int(text.split("message number ")[1].split()[0])
        right = next(label for label in LABELS if text.endswith(label))
        return LABELS[(LABELS.index(right) + 1) % 3] if (i * 7919) % 100 < miss else right

    return answer


def test_a_climb_scores_more_rows_of_the_shipped_variant_until_the_verdict_resolves(tmp_path: Path) -> None:
    folder = _task(tmp_path, 600, 100)
    db = tmp_path / "s.db"
    opts = dict(store_path=db, rungs=["baseline", "prompt"])
    plain = climb(folder, FakeModel(_answers(14)), ClimbOptions(**opts))
    assert plain.shipped == "prompt" and plain.variants[1].n == 100 and "decide" not in plain.to_dict()
    assert plain.decision is not None and plain.decision.eval_too_small  # 85% of 100 rows: the interval spans 80%
    assert "rungwise climb" in plain.recommendation and "--decide" in plain.recommendation
    model = FakeModel(_answers(14))
    result = climb(folder, model, ClimbOptions(**opts, decide=True))
    looks = result.to_dict()["decide"]
    assert result.run_id != plain.run_id and looks["schedule"] == sequential.schedule(100, 600) == [100, 182, 330, 600]
    assert looks["stopped"] == "resolved" and looks["resolved"] and looks["lead"] == "prompt"
    last = looks["looks"][-1]
    assert [lk["rows"] for lk in looks["looks"]] == looks["schedule"][: len(looks["looks"])] and len(looks["looks"]) > 1
    assert last["questions"][0]["answer"] == "meets" and last["questions"][0]["settled_at"] == last["look"]
    prompt = result.variants[1]
    assert prompt.n == last["rows"] == looks["rows"]["prompt"] and result.variants[0].n == 20  # the baseline stopped early
    assert result.shipped == "prompt" and "too small" not in result.recommendation
    # the rows: the climb's sample first, then the eval file's other rows in a seeded order, in eval order in the run
    store = Store(db)
    ids = [r.example_id for r in store.results(result.run_id, "prompt")]
    assert set(ids) >= {r.example_id for r in plain.outcomes[1].rows} and len(ids) == prompt.n
    assert store.get_run(result.run_id).settings["decide"] == sequential.settings(sequential.Budget())
    assert "decide" not in store.get_run(plain.run_id).settings
    # the same climb again resumes at the same look: no call, the same looks
    again = climb(folder, FakeModel(_answers(14)), ClimbOptions(**opts, decide=True))
    assert again.stats.calls == 0 and again.to_dict()["decide"]["looks"] == looks["looks"]


def test_a_budget_that_runs_out_leaves_the_priced_next_step(tmp_path: Path) -> None:
    folder = _task(tmp_path, 2000, 100)
    result = climb(folder, FakeModel(_answers(17)), ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline", "prompt"],
                                                                decide_budget="150 rows"))
    looks = result.to_dict()["decide"]
    assert looks["schedule"] == [100, 150] and looks["stopped"] == "budget" and not looks["resolved"]
    assert result.variants[1].n == 150
    text = result.recommendation
    assert "The verdict is still open (the decide budget ran out)" in text and "more rows of 'prompt'" in text
    assert result.decision is not None and result.decision.next_step is not None
    assert result.decision.next_step["rows_needed"] > 150


def test_the_looks_in_the_terminal_the_report_and_json(tmp_path: Path) -> None:
    import json

    from rich.console import Console

    from rungwise.outputs import strict_json
    from rungwise.record.stored import load_report
    from rungwise.report.html import render_climb
    from rungwise.report.terminal import print_climb

    folder = _task(tmp_path, 600, 100)
    db = tmp_path / "s.db"
    result = climb(folder, FakeModel(_answers(14)), ClimbOptions(store_path=db, rungs=["baseline", "prompt"],
                                                                decide=True))
    data = json.loads(strict_json(result.record().model_dump(mode="json")))  # what --json prints
    assert [look["rows"] for look in data["decide"]["looks"]] == [100, 182]
    assert data["decide"]["looks"][0]["questions"][0]["answer"] == "open"
    widths = [v["high"] - v["low"] for v in (look["variants"]["prompt"] for look in data["decide"]["looks"])]
    assert widths[1] < widths[0]  # the interval narrows over rows
    report = load_report(Store(db), result.run_id)
    console = Console(width=200, record=True)
    print_climb(report.result, console)  # `rungwise show`: from the stored record
    text = console.export_text()
    assert "decide: 2 look(s) of at most 4" in text and "prompt meets the target" in text and "1/4" in text
    page = render_climb(report)
    assert "id=\"decide\"" in page and "chart-looks" in page and "prompt meets the target" in page
    # the record lists the rows the looks added, with their inputs
    assert len(report.rows) == 182


def test_a_lead_that_misses_the_target_on_more_rows_is_not_shipped(tmp_path: Path) -> None:
    """The sample flatters the prompt rung (82 of its 100 rows), the other rows do not (half): the looks find it
    below the target, then its constrained twin (which answers the same) becomes the lead and is found below too."""
    from rungwise.task.spec import Task

    folder = _task(tmp_path, 600, 100)
    sample = {ex.input for ex in Task.load(folder).eval_rows(sample=100, seed=0)}
    flattered = sorted(sample)[:82]

    def answer(request: Request) -> str:
        text = request.messages[-1].content
        if request.messages[0].role != "system":
            return "I am not sure"
        right = next(label for label in LABELS if text.endswith(label))
        i = int(text.split("message number ")[1].split()[0])
        good = any(text.endswith(s) for s in flattered) if any(text.endswith(s) for s in sample) else i % 2 == 0
        return right if good else LABELS[(LABELS.index(right) + 1) % 3]

    result = climb(folder, FakeModel(answer), ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline", "prompt"],
                                                           decide=True))
    looks = result.to_dict()["decide"]["looks"]
    assert {look["lead"] for look in looks} == {"prompt", "prompt-constrained"}
    finals = [q for look in looks for q in look["questions"] if q["answer"] != "open"]
    assert {q["variant"] for q in finals} == {"prompt", "prompt-constrained"}
    assert {q["answer"] for q in finals} == {"misses"}
    assert result.shipped is None and result.recommendation.startswith("No rung meets the target of 80%")


def test_the_lead_and_the_no_llm_reference_are_scored_until_the_comparison_settles(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The few-shot rung and the kNN label (a bag-of-words embedder, the fake model): the label is right on about
    92% of the rows, the few-shot rung copies it but misses about 3 rows in 100 more. On the sample of 100 the
    comparison is open; the looks score both until it settles, and the one ship is the kNN label."""
    import hashlib

    from helpers import write_task
    from rungs.fakes import BagOfWordsEmbedder

    monkeypatch.setattr("rungwise.retrieval.embeddings.default_embedder", lambda: BagOfWordsEmbedder())

    def bucket(word: str) -> int:  # the embedder's hashed dimension of a word
        return int(hashlib.md5(word.encode()).hexdigest(), 16) % 64

    used = {bucket(w) for w in "please route this where does it go".split()}
    keys: list[str] = []
    for w in (f"key{i}" for i in range(1000)):  # keys in dimensions of their own: the nearest row shares the key
        if bucket(w) not in used and len(keys) < 20:
            keys.append(w)
            used.add(bucket(w))
    key_dims = {bucket(k) for k in keys}
    train = [{"input": f"{k} please route this", "target": LABELS[n % 3]} for n, k in enumerate(keys)]
    evals = []
    for j in (j for j in range(2000) if bucket(f"n{j}") not in key_dims):
        n = len(evals)
        label = LABELS[(n % 20) % 3]
        if (n * 31) % 100 < 8:  # the nearest train row's label is wrong here
            label = LABELS[(LABELS.index(label) + 1) % 3]
        evals.append({"input": f"{keys[n % 20]} where does it go n{j}", "target": label})
        if len(evals) == 600:
            break
    toml = ("name = \"keys\"\ninstruction = \"Which team?\"\ntarget = 0.85\n[output]\ntype = \"label\"\n"
            "labels = [\"billing\", \"technical\", \"sales\"]\n[checks]\nnear_duplicates = false\n"
            "[eval]\nsample = 100\n[costs]\ninput_price_per_million = 1.0\ncurrency = \"EUR\"\n"
            "[fewshot]\nk = 1\nselection = [\"knn\"]\n")
    folder = write_task(tmp_path / "keys", toml, train, evals)

    def answer(request: Request) -> str:
        """Copy the label of the shot sharing the input's key; miss 3 rows in 100 more (by a hash of the row)."""
        words = request.messages[-1].content.split()
        shots = request.messages[1:-1]
        copied = next((a.content for u, a in zip(shots[::2], shots[1::2], strict=True)
                       if u.content.split()[0] == words[0]), "sales")
        j = int(words[-1].removeprefix("n"))
        return LABELS[(LABELS.index(copied) + 1) % 3] if (j * 7919) % 100 < 3 else copied

    opts: dict[str, Any] = {"store_path": tmp_path / "s.db", "cache_dir": tmp_path / "cache",
                            "rungs": ["prompt", "fewshot"]}
    plain = climb(folder, FakeModel(answer), ClimbOptions(**opts))
    assert plain.decision is not None and plain.decision.eval_too_small
    assert plain.shipped == "knn-label" and plain.decision.alternative is not None
    assert plain.recommendation.count("Ship ") == 1 and "--decide" in plain.recommendation
    result = climb(folder, FakeModel(answer), ClimbOptions(**opts, decide=True))
    looks = result.to_dict()["decide"]
    lead = looks["lead"]
    assert looks["reference"] == "knn-label" and lead.startswith("fewshot-knn") and looks["resolved"]
    versus = [q for look in looks["looks"] for q in look["questions"] if q["kind"] == "versus"]
    assert versus[0]["answer"] == "open" and versus[-1]["answer"] == "worse"  # the lead is worse than the label
    assert result.shipped == "knn-label" and "too small" not in result.recommendation
    assert "significantly better than" in result.recommendation and result.recommendation.count("Ship ") == 1
    rows = {v.name: v.n for v in result.variants}
    assert rows["knn-label"] >= rows[lead] > 100 and rows[lead] == looks["rows"][lead]
    others = [v for v in result.variants if v.name not in (lead, "knn-label")]
    assert all(v.n <= 100 for v in others)  # only the variants the verdict rests on get more rows


def test_the_rule_replayed_on_stored_answers_takes_the_climbs_looks(tmp_path: Path) -> None:
    """`sequential.replay` on answers scored on every row (what a benchmark stores) takes the same looks as the
    climb took, with no model call."""
    from rungwise.judge.early_stop import look_order
    from rungwise.task.spec import Task

    folder = _task(tmp_path, 600, 100)
    opts: dict[str, Any] = {"store_path": tmp_path / "s.db", "rungs": ["baseline", "prompt"]}
    result = climb(folder, FakeModel(_answers(14)), ClimbOptions(**opts, decide=True))
    every = climb(folder, FakeModel(_answers(14)), ClimbOptions(**opts, full=True, early_stop=False))
    full = {"prompt": {r.example_id: r.score for r in every.outcomes[1].rows}}
    task = Task.load(folder)
    sample = task.eval_rows(sample=100, seed=0)
    order = [ex.id for ex in sequential.extension_order(look_order(sample, 0), task.eval, 0, key=lambda ex: ex.id)]
    looks, stopped = sequential.replay(full, order, "prompt", None, 0.8, binary=True, first=100)
    recorded = result.to_dict()["decide"]
    assert stopped == recorded["stopped"] == "resolved"
    assert [look.to_dict() for look in looks] == [{k: v for k, v in look.items() if k != "lead"}
                                                  for look in recorded["looks"]]


def test_an_interrupted_decide_climb_resumes_at_the_same_look(tmp_path: Path) -> None:
    """Cancelled while look 2 scores its rows, the same climb again finishes with the looks and the calls of a climb
    that was never interrupted."""
    from rungwise.engine.job import ClimbJob
    from rungwise.errors import ClimbCancelled
    from rungwise.progress import ProgressEvent

    folder = _task(tmp_path, 600, 100)
    whole = climb(folder, FakeModel(_answers(14)), ClimbOptions(store_path=tmp_path / "a.db",
                                                                rungs=["baseline", "prompt"], decide=True))
    opts = ClimbOptions(store_path=tmp_path / "b.db", rungs=["baseline", "prompt"], decide=True)
    first = FakeModel(_answers(14))
    jobs: list[ClimbJob] = []

    def stop_in_look_two(event: ProgressEvent) -> None:
        if event.name == "prompt" and event.total == 182 and event.done >= 140:
            jobs[0].cancel()

    jobs.append(ClimbJob(folder, first, opts, progress=stop_in_look_two))
    with pytest.raises(ClimbCancelled):
        jobs[0].run()
    assert 100 < len([c for c in first.calls if c.messages[0].role == "system"]) < 182 + 100
    second = FakeModel(_answers(14))
    resumed = climb(folder, second, opts)
    assert resumed.to_dict()["decide"]["looks"] == whole.to_dict()["decide"]["looks"]
    assert len(first.calls) + len(second.calls) >= whole.stats.calls > len(second.calls) > 0
    assert resumed.variants[1].n == 182
    assert resumed.recommendation == whole.recommendation.replace(whole.run_id, resumed.run_id)


def test_the_task_can_ask_for_decide_and_a_climb_can_turn_it_off(tmp_path: Path) -> None:
    folder = _task(tmp_path, 600, 100)
    toml = folder / "task.toml"
    toml.write_text(toml.read_text().replace("seed = 0\n", "seed = 0\ndecide = \"150 rows\"\n"))
    opts: dict[str, Any] = {"store_path": tmp_path / "s.db", "rungs": ["baseline", "prompt"]}
    asked = climb(folder, FakeModel(_answers(17)), ClimbOptions(**opts))
    assert asked.to_dict()["decide"]["schedule"] == [100, 150]
    off = climb(folder, FakeModel(_answers(17)), ClimbOptions(**opts, decide=False, decide_budget="300 rows"))
    assert "decide" not in off.to_dict() and off.variants[1].n == 100
    wider = climb(folder, FakeModel(_answers(17)), ClimbOptions(**opts, decide_budget="330 rows"))
    assert wider.to_dict()["decide"]["schedule"][-1] == 330  # the climb's budget over the task's


def test_the_next_steps_rows_have_their_power_at_the_level_of_the_look_that_tests_them() -> None:
    """The rows a priced next step names are the rows at which `--decide` would likely settle the claim: tested at
    the level of the look that reaches them (under 1%), not at 5%. At 5% the estimate was too optimistic (at
    those rows, the look's level settles a true 89% against an 85% target only about half the time)."""
    x = {f"r{i}": float(i % 100 < 89) for i in range(200)}
    claims = [("target", "a", None)]
    at_5 = sequential.rows_to_settle({"a": x}, claims, 0.85)
    at_look = sequential.rows_at_look_level({"a": x}, claims, 0.85, first=200, cap=3055)
    assert at_5 is not None and at_look is not None and at_look > at_5
    plan = sequential.schedule(200, 3055)
    levels = sequential.alphas(len(plan))
    rng = np.random.default_rng(0)

    def power(n: int) -> float:
        level = levels[next(k for k, rows in enumerate(plan) if rows >= n)]
        return float(np.mean([sequential.target_p_value((rng.random(n) < 0.89).astype(float), 0.85, binary=True)
                              < level for _ in range(1000)]))

    assert power(at_look) >= 0.74  # 80% nominal, by a normal approximation
    assert power(at_5) < 0.65
    assert sequential.rows_at_look_level({"a": x}, claims, 0.85, first=2000) == at_5  # already past them: as is


def test_a_climb_of_some_variants_scores_only_those(tmp_path: Path) -> None:
    folder = _task(tmp_path, 300, 100)
    model = FakeModel(_answers(14))
    result = climb(folder, model, ClimbOptions(store_path=tmp_path / "s.db", rungs=["baseline", "prompt"],
                                               variants=["prompt", "nonesuch"]))
    assert [v.name for v in result.variants] == ["prompt"]
    assert "no rung of this climb" in result.skipped["nonesuch"]
    # names as a user lists them ("a, b,"): stripped, empty ones dropped, none left is no filter
    assert ClimbOptions(variants=[" prompt", "", "knn-label "]).variants == ["prompt", "knn-label"]
    assert ClimbOptions(variants=[" ", ""]).variants is None
