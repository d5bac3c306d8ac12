"""The stop rule, the diagnosis and the break-even, on constructed results with known answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rungwise.judge.costs import finetune_cost, price
from rungwise.judge.decide import Decision, decide
from rungwise.judge.summary import VariantSummary
from rungwise.task.spec import CostSpec


def _summary(name: str, rung: str, scores: np.ndarray, *, fmt: int = 0, probe: bool = False, prompt_tokens: float = 100,
             purpose: str = "", retrieval: bool = False) -> VariantSummary:
    n = len(scores)
    fails = int(n - scores.sum())
    from rungwise.judge import stats

    s = stats.score(scores, binary=True)
    return VariantSummary(name, rung, probe, n, s.value, s.low, s.high, s.method, min(fmt, fails), fails - min(fmt, fails),
                          prompt_tokens, 3.0, 0.1, 0.2, 0.1, purpose=purpose, retrieval=retrieval)


def _decide(sums: list[VariantSummary], scores: dict[str, np.ndarray], target: float, **kw: Any) -> Decision:
    """decide() with each variant's scores keyed by row id ("0", "1", ...): the variants scored the same rows."""
    return decide(sums, {k: {str(i): float(v) for i, v in enumerate(a)} for k, a in scores.items()}, target, **kw)


def _scores(n: int, ones: int, offset: int = 0) -> np.ndarray:
    out = np.zeros(n)
    out[offset : offset + ones] = 1
    return out


def test_stop_rule_and_verdicts() -> None:
    n = 200
    base = _scores(n, 10)
    prompt = _scores(n, 12)  # not significantly better than baseline
    fewshot = _scores(n, 180)  # far better, meets a 0.85 target
    sums = [_summary("baseline", "baseline", base, fmt=150), _summary("prompt", "prompt", prompt, fmt=100),
            _summary("fewshot-knn", "fewshot", fewshot)]
    d = _decide(sums, {"baseline": base, "prompt": prompt, "fewshot-knn": fewshot}, 0.85)
    assert d.shipped == "fewshot-knn"
    assert [v.verdict for v in d.rungs] == ["first", "no measurable gain", "gain"]
    # the fewshot rung is compared with the incumbent (baseline, since prompt brought no measurable gain)
    assert d.rungs[2].against is not None and d.rungs[2].against.a == "baseline"
    assert "Ship 'fewshot-knn'" in d.recommendation and "significant gain" in d.recommendation
    assert not d.eval_too_small


def test_knowledge_gap_is_diagnosed() -> None:
    n = 100
    prompt = _scores(n, 5)
    rag = _scores(n, 30)
    oracle = _scores(n, 45)
    sums = [_summary("prompt", "prompt", prompt), _summary("rag-hybrid", "rag", rag), _summary("oracle", "rag", oracle, probe=True, purpose="oracle")]
    d = _decide(sums, {"prompt": prompt, "rag-hybrid": rag, "oracle": oracle}, 0.9)
    assert d.shipped is None and d.diagnosis.knowledge_gap is True
    assert any("closes 62% of the gap" in note for note in d.diagnosis.notes)  # (30-5)/(45-5)
    assert "knowledge" in d.recommendation and "fine-tune" in d.recommendation


def test_a_finetune_over_retrieval_is_behaviour_on_top_of_knowledge() -> None:
    """xquad_en's shape: retrieval lifts the score (knowledge), a fine-tune reading the same passages lifts it
    far more (the answer's form): the recommendation must not stop at 'knowledge'."""
    n = 200
    prompt, rag, tuned = _scores(n, 7), _scores(n, 21), _scores(n, 80)
    sums = [_summary("prompt", "prompt", prompt), _summary("rag-bm25", "rag", rag),
            _summary("finetune", "finetune", prompt), _summary("finetune-rag", "finetune", tuned, retrieval=True)]
    d = _decide(sums, {"prompt": prompt, "rag-bm25": rag, "finetune": prompt, "finetune-rag": tuned}, 0.6)
    assert d.diagnosis.knowledge_gap is True
    assert d.diagnosis.behaviour_over_retrieval is not None and "'finetune-rag' beats 'rag-bm25' by +29.5" in d.recommendation
    # without the tuned adapter beating retrieval, the old advice stands
    d2 = _decide(sums[:3], {"prompt": prompt, "rag-bm25": rag, "finetune": prompt}, 0.6)
    assert d2.diagnosis.behaviour_over_retrieval is None and "before any fine-tune" in d2.recommendation


def test_behavioural_gap_is_diagnosed() -> None:
    n = 100
    prompt = _scores(n, 40)
    fewshot = _scores(n, 45)
    sums = [_summary("prompt", "prompt", prompt, fmt=50), _summary("fewshot-fixed", "fewshot", fewshot, fmt=45)]
    d = _decide(sums, {"prompt": prompt, "fewshot-fixed": fewshot}, 0.9)
    assert d.diagnosis.knowledge_gap is None and d.diagnosis.behavioural_gap
    assert d.diagnosis.format_share == pytest.approx(45 / 55)
    assert "behavioural" in d.recommendation


def test_too_small_to_decide() -> None:
    s = _scores(20, 17)
    d = _decide([_summary("prompt", "prompt", s)], {"prompt": s}, 0.85)
    assert d.eval_too_small and "too small to decide" in d.recommendation


def test_prices_and_break_even() -> None:
    costs = CostSpec(calls_per_month=100_000, input_price_per_million=1.0, output_price_per_million=2.0,
                     labelled_example_cost=0.1, training_price_per_hour=3.6, base_model_updates_per_year=4,
                     eval_runs_per_month=2)
    fewshot = price("fewshot-knn", 800, 5, costs)
    assert fewshot.cost_per_call == pytest.approx(810e-6)
    assert fewshot.cost_per_month == pytest.approx(81.0)
    ft = finetune_cost(costs, per_call=50e-6, train_examples=1000, train_seconds=600, eval_rows=200, reference=fewshot)
    # dataset 100, training 0.6 (600 s at 3.6/h), retraining 2.4/yr, evals 2 x 200 x 50e-6 = 0.02/month
    assert ft.dataset == pytest.approx(100) and ft.training == pytest.approx(0.6) and ft.retraining_per_year == pytest.approx(2.4)
    fixed = (100 + 0.6) / 12 + 2.4 / 12 + 0.02
    assert ft.fixed_per_month == pytest.approx(fixed)
    assert ft.break_even_calls_per_month == pytest.approx(fixed / (810e-6 - 50e-6))
    # a fine-tune whose calls cost more never breaks even
    assert finetune_cost(costs, per_call=1e-3, train_examples=10, train_seconds=1, eval_rows=1,
                         reference=fewshot).break_even_calls_per_month is None


def test_knn_reference_as_good_as_fewshot_is_said() -> None:
    n = 100
    fewshot = _scores(n, 90)
    knn = _scores(n, 89)
    sums = [_summary("prompt", "prompt", _scores(n, 0), fmt=100), _summary("fewshot-knn", "fewshot", fewshot),
            _summary("knn-label", "fewshot", knn, probe=True, purpose="reference")]
    d = _decide(sums, {"prompt": _scores(n, 0), "fewshot-knn": fewshot, "knn-label": knn}, 0.85)
    assert d.shipped == "fewshot-knn" and d.alternative is None
    # one ship: the rows favour the few-shot rung (90% vs 89%, not significant), so it is the verdict, and the
    # reference is said as the comparison still open, never as a second ship
    assert d.diagnosis.cheaper_reference is not None and d.diagnosis.cheaper_reference in d.recommendation
    assert ("The label of the nearest train row, which needs no LLM, scores 89.0% against 90.0% for 'fewshot-knn'"
            in d.recommendation)
    assert "the rows favour 'fewshot-knn'" in d.recommendation and "cheaper ship" not in d.recommendation
    assert d.recommendation.count("Ship ") == 1
    assert d.recommendation.count("too small to decide") == 1  # 90% of 100 rows: the interval spans 85%
    assert d.next_step is not None and d.next_step["rows_needed"] > 100 and "--decide" in d.recommendation


def _reference_climb(llm: int, ref: int, n: int = 200, **kw: Any) -> Decision:
    """A prompt rung at 0, a few-shot rung with `llm` passes, the kNN label with `ref`: the reference passes the
    few-shot rung's rows and then `ref - llm` more (the rows where they disagree all favour one side)."""
    few = _scores(n, llm)
    knn = _scores(n, ref)
    sums = [_summary("prompt", "prompt", _scores(n, 0), fmt=n), _summary("fewshot-knn", "fewshot", few),
            _summary("knn-label", "fewshot", knn, probe=True, purpose="reference")]
    return _decide(sums, {"prompt": _scores(n, 0), "fewshot-knn": few, "knn-label": knn}, 0.85,
                   costs_per_call={"prompt": 1e-4, "fewshot-knn": 8e-4, "knn-label": 0.0}, **kw)


def test_a_reference_significantly_better_and_cheaper_is_the_one_ship() -> None:
    d = _reference_climb(1786, 1836, n=2000)  # 89.3% against 91.8% on 2,000 rows: p < 0.001
    assert d.shipped == "knn-label" and d.alternative == "fewshot-knn"
    text = d.recommendation
    assert text.startswith("Ship 'knn-label' (the label of the nearest train row, which needs no LLM)")
    assert "significantly better than 'fewshot-knn' (+2.5 points" in text and text.count("Ship ") == 1
    assert "The alternative is 'fewshot-knn'" in text and "too small" not in text and not d.eval_too_small


def test_an_open_comparison_ships_the_side_the_rows_favour_with_the_priced_next_step() -> None:
    d = _reference_climb(175, 180, available=3055, command="rungwise climb examples/banking77", currency="USD")
    assert d.shipped == "knn-label" and d.alternative == "fewshot-knn" and d.eval_too_small
    text = d.recommendation
    assert "the rows favour it over 'fewshot-knn' (87.5%; +2.5 points, p=0.0625, not yet significant)" in text
    step = d.next_step
    assert step is not None and step["variants"] == ["fewshot-knn", "knn-label"]
    assert step["more"] == step["rows_needed"] - 200 > 0 and step["cost"] == pytest.approx(step["more"] * 8e-4)
    assert f"about {step['more']:,} more rows" in text and "rungwise climb examples/banking77 --decide" in text
    assert "score more rows (climb --full)" not in text
    # more rows than the eval file holds: label more, at a number
    few = _reference_climb(175, 180, available=300)
    assert "more than the 300 the eval file holds: label about" in few.recommendation
    # a climb whose looks settled the verdict says nothing of the eval's size
    settled = _reference_climb(175, 180, looks={"resolved": True, "stopped": "resolved"})
    assert not settled.eval_too_small and "too small" not in settled.recommendation
    # one whose budget ran out says so, and prices the rest
    spent = _reference_climb(175, 180, looks={"resolved": False, "stopped": "budget"})
    assert "The verdict is still open (the decide budget ran out)" in spent.recommendation
    assert "--decide-budget '" in spent.recommendation and "rows'" in spent.recommendation


def test_too_small_sentence_appears_once() -> None:
    s = _scores(20, 18)
    d = _decide([_summary("prompt", "prompt", s)], {"prompt": s}, 0.85)
    assert d.recommendation.count("too small to decide") == 1


def test_a_fine_tune_that_is_already_best_is_not_advised_again() -> None:
    n = 200
    prompt, fewshot, tuned = _scores(n, 20), _scores(n, 60), _scores(n, 90)
    sums = [_summary("prompt", "prompt", prompt), _summary("fewshot-knn", "fewshot", fewshot),
            _summary("finetune", "finetune", tuned)]
    d = _decide(sums, {"prompt": prompt, "fewshot-knn": fewshot, "finetune": tuned}, 0.8)
    assert d.shipped is None
    assert "or a fine-tune on this narrow skill" not in d.recommendation
    assert "more rows" in d.recommendation and "stronger base model" in d.recommendation


def test_learning_curves_join_the_recommendation_and_never_the_ladder() -> None:
    from rungwise.judge.curves import learning_curve

    n = 200
    prompt = _scores(n, 60)
    tuned = _scores(n, 120)
    small = _scores(n, 150)  # a curve point that scores higher than the ladder: still not a step of it
    sums = [_summary("prompt", "prompt", prompt), _summary("finetune", "finetune", tuned),
            _summary("finetune@100", "finetune", small, probe=True, purpose="curve")]
    scores = {"prompt": prompt, "finetune": tuned, "finetune@100": small}
    rising = np.array([_scores(n, k) for k in (100, 140, 170)])
    curve = learning_curve("finetune", [100, 300, 900], rising, 0.9, kind="training", labelled_example_cost=0.1)
    d = _decide(sums, scores, 0.9, curves=[curve])
    assert d.shipped is None and [v.best for v in d.rungs] == ["prompt", "finetune"]
    assert all("finetune@100" not in (c.a, c.b) for c in d.comparisons)
    assert d.recommendation.endswith("Learning curves: " + curve.sentence())
    assert curve.sentence().startswith("fine-tuning ")
    # a shipped rung needs no curve in its recommendation
    assert "Learning curves" not in _decide(sums, scores, 0.55, curves=[curve]).recommendation


def test_a_variant_stopped_early_is_compared_on_the_rows_it_scored() -> None:
    """Variants score different rows when one stopped at a look: the paired test uses the rows both scored."""
    n = 200
    fewshot = _scores(n, 180)
    prompt_rows = {str(i): 0.0 for i in range(0, n, 10)}  # 20 rows, none right
    sums = [_summary("prompt", "prompt", np.zeros(20)), _summary("fewshot-knn", "fewshot", fewshot)]
    d = decide(sums, {"prompt": prompt_rows, "fewshot-knn": {str(i): float(v) for i, v in enumerate(fewshot)}}, 0.85)
    gain = d.rungs[1].against
    assert gain is not None and gain.n == 20
    assert gain.difference == pytest.approx(np.mean([fewshot[i] for i in range(0, n, 10)]))
    assert d.shipped == "fewshot-knn" and d.rungs[1].verdict == "gain"
    # no row in common: no verdict from nothing
    d2 = decide(sums, {"prompt": {"x": 0.0}, "fewshot-knn": {"y": 1.0}}, 0.85)
    assert d2.rungs[1].against is not None and d2.rungs[1].against.n == 0
    assert d2.rungs[1].verdict == "no measurable gain"


def test_a_claim_open_at_the_last_looks_level_stays_open_in_the_verdict() -> None:
    """Settled at 5% but not at the level of the sequential rule's last look: the verdict says it is open."""
    n = 400
    few = _scores(n, 360)  # 90% of 400: the 95% interval lies above 85%
    sums = [_summary("prompt", "prompt", _scores(n, 0), fmt=n), _summary("fewshot-knn", "fewshot", few)]
    open_look = {"questions": [{"kind": "target", "variant": "fewshot-knn", "other": None, "answer": "open"}]}
    d = _decide(sums, {"prompt": _scores(n, 0), "fewshot-knn": few}, 0.85,
                looks={"resolved": False, "stopped": "budget", "looks": [open_look]})
    assert d.eval_too_small and d.shipped == "fewshot-knn"
    assert "The verdict is still open (the decide budget ran out): 'fewshot-knn' (90.0%) is not yet told" in d.recommendation
    assert _decide(sums, {"prompt": _scores(n, 0), "fewshot-knn": few}, 0.85).eval_too_small is False


def test_below_the_target_the_reference_comparison_leaves_the_verdict_settled() -> None:
    """Neither the few-shot rung nor the kNN label meets the target: which is better changes no ship, so an open
    comparison between them does not make the verdict open; and the rows favouring the label are said so."""
    n = 200
    few, knn = _scores(n, 70), _scores(n, 80)
    sums = [_summary("prompt", "prompt", _scores(n, 0), fmt=n), _summary("fewshot-knn", "fewshot", few),
            _summary("knn-label", "fewshot", knn, probe=True, purpose="reference")]
    d = _decide(sums, {"prompt": _scores(n, 0), "fewshot-knn": few, "knn-label": knn}, 0.85)
    assert d.shipped is None and not d.eval_too_small and d.next_step is None
    assert ("scores 40.0% against 35.0% for 'fewshot-knn' (p=0.00195): measurably better, but short of the target"
            in d.recommendation)
    close = _scores(n, 73)
    sums[2] = _summary("knn-label", "fewshot", close, probe=True, purpose="reference")
    d = _decide(sums, {"prompt": _scores(n, 0), "fewshot-knn": few, "knn-label": close}, 0.85)
    assert d.shipped is None and not d.eval_too_small and d.next_step is None
    assert "scores 36.5% against 35.0% for 'fewshot-knn' (p=0.25): the rows favour it by 1.5 points" in d.recommendation


def test_the_next_step_climbs_the_model_this_climb_ran_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rungwise.engine.job import _command
    from rungwise.models.embedded import EmbeddedModel
    from rungwise.models.openai_http import OpenAIHttpModel
    from rungwise.task.spec import Task

    from helpers import LABEL_EVAL, LABEL_TOML_EXACT, LABEL_TRAIN, write_task

    task = Task.load(write_task(tmp_path / "my task", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL))
    assert _command(task, None) == f"rungwise climb '{task.folder}'"
    monkeypatch.setenv("TEAM_KEY", "sk-secret")
    served = OpenAIHttpModel("http://gpu:8000/v1", "org/model", api_key_env="TEAM_KEY")
    command = _command(task, served)
    assert command == f"rungwise climb '{task.folder}' --model http://gpu:8000/v1 --model-name org/model " \
                      "--api-key-env TEAM_KEY" and "sk-secret" not in command
    assert _command(task, EmbeddedModel.__new__(EmbeddedModel)) == _command(task, None)  # the default model
