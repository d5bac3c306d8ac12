"""A climb's result built by hand, shaped like the README's banking77 climb with every rung (`--all`): stopped
variants, verdicts with p-values, a rag rung with recall@k and reciprocal rank, two adapters (one stale), costs.
For the terminal tests: no model, no store."""

from __future__ import annotations

from typing import Any

from rungwise.engine.job import ClimbResult
from rungwise.engine.runner import RunStats
from rungwise.judge.costs import RungCost
from rungwise.judge.decide import Comparison, Decision, Diagnosis, RungVerdict
from rungwise.judge.summary import VariantSummary
from rungwise.record.schema import AdapterRecord, ClimbRecord

RUN_ID = "20261207-031544-3f9a2c"
TARGET = 0.85
N = 200

#: name, rung, score, low, high, rows scored, prompt tokens, format failures, purpose, extras
_ROWS: list[tuple[str, str, float, float, float, int, float, int, str, dict[str, float]]] = [
    ("baseline", "baseline", 0.0, 0.0, 0.161, 20, 52, 20, "ladder", {}),
    ("prompt", "prompt", 0.0, 0.0, 0.161, 20, 662, 20, "ladder", {}),
    ("prompt-constrained", "prompt", 0.05, 0.009, 0.236, 20, 662, 0, "ladder", {}),
    ("fewshot-fixed", "fewshot", 0.05, 0.009, 0.236, 20, 844, 9, "ladder", {}),
    ("fewshot-knn", "fewshot", 0.875, 0.822, 0.914, 200, 810, 5, "ladder", {}),
    ("fewshot-knn-constrained", "fewshot", 0.895, 0.845, 0.930, 200, 810, 0, "ladder", {}),
    ("knn-label", "fewshot", 0.925, 0.880, 0.954, 200, 0, 0, "reference", {}),
    ("rag-bm25", "rag", 0.30, 0.166, 0.478, 50, 905, 4, "ladder", {"recall@4": 0.62, "reciprocal_rank": 0.4815}),
    ("rag-dense", "rag", 0.35, 0.168, 0.587, 20, 921, 3, "ladder", {"recall@4": 0.71, "reciprocal_rank": 0.5532}),
    ("rag-hybrid", "rag", 0.40, 0.219, 0.613, 20, 930, 2, "ladder", {"recall@4": 0.74, "reciprocal_rank": 0.5901}),
    ("finetune", "finetune", 0.35, 0.287, 0.418, 200, 52, 72, "ladder", {}),
    ("finetune-constrained", "finetune", 0.415, 0.349, 0.484, 200, 52, 0, "ladder", {}),
    ("finetune-rag", "finetune", 0.40, 0.219, 0.613, 20, 940, 1, "ladder", {}),
]

ADAPTERS: dict[str, dict[str, Any]] = {
    "finetune": {"base_model": "embedded:5c3f0e9d2a7b1146", "train_seconds": 337.4, "examples": 1000,
                 "steps": 125, "stop_reason": "completed"},
    "finetune-rag": {"base_model": "embedded:0123456789abcdef", "train_seconds": 1262.0, "examples": 1000,
                     "steps": 88, "stop_reason": "early_stopping"},
}


def _stopped(rows: int, score: float) -> dict[str, Any] | None:
    if rows == N:
        return None
    return {"rows": rows, "of": N, "score": score, "upper": 0.3, "target": TARGET, "confidence": 0.99667,
            "method": "Clopper-Pearson"}


def _summary(name: str, rung: str, score: float, low: float, high: float, n: int, prompt: float, fmt: int,
             purpose: str, extras: dict[str, float]) -> VariantSummary:
    twin = name.removesuffix("-constrained") if name.endswith("-constrained") else None
    return VariantSummary(
        name=name, rung=rung, probe=purpose != "ladder", n=n, score=score, low=low, high=high,
        method="wilson", format_failures=fmt, content_failures=n - fmt - round(score * n),
        mean_prompt_tokens=prompt, mean_completion_tokens=7.3, latency_p50_s=0.85, latency_p95_s=1.62,
        seconds_per_example=0.9, extras=extras, purpose=purpose, retrieval=rung == "rag" or name == "finetune-rag",
        twin_of=twin, stopped=_stopped(n, score))


def _verdict(rung: str, best: str, score: float, verdict: str, against: str | None, diff: float, p: float,
             n: int) -> RungVerdict:
    comp = (Comparison(against, best, diff, diff - 0.1, diff + 0.1, p, "mcnemar", p < 0.05, n)
            if against is not None else None)
    return RungVerdict(rung, best, score, score >= TARGET, verdict, comp)  # type: ignore[arg-type]


def banking77_result() -> ClimbRecord:
    """Every rung of a banking77 climb, as the terminal receives it: the record of what `climb()` returned."""
    variants = [_summary(*row) for row in _ROWS]
    rungs = [
        _verdict("baseline", "baseline", 0.0, "first", None, 0, 1, 0),
        _verdict("prompt", "prompt-constrained", 0.05, "no measurable gain", "baseline", 0.05, 0.5, 20),
        _verdict("fewshot", "fewshot-knn-constrained", 0.895, "gain", "baseline", 0.895, 1.7e-52, 20),
        _verdict("rag", "rag-hybrid", 0.40, "worse", "fewshot-knn-constrained", -0.5, 3.1e-4, 20),
        _verdict("finetune", "finetune-constrained", 0.415, "worse", "fewshot-knn-constrained", -0.48, 2.2e-30, 200),
    ]
    recommendation = ("Ship 'fewshot-knn-constrained' (rung fewshot): 89.5% [84.5%, 93.0%] meets the target of 85%, "
                      "a significant gain over 'baseline' (+89.5 points, p=1.7e-52 on the 20 rows both scored).")
    decision = Decision(shipped="fewshot-knn-constrained", rungs=rungs,
                        diagnosis=Diagnosis(format_share=0.0, knowledge_gap=False, behavioural_gap=False,
                                            notes=["The nearest train row's label (knn-label) does as well."]),
                        eval_too_small=True, minimum_detectable_difference=0.07, recommendation=recommendation)
    costs = {v.name: RungCost(v.name, v.mean_prompt_tokens * 1.5e-7, v.mean_prompt_tokens * 1.5e-7 * 300_000, "USD")
             for v in variants}
    result = ClimbResult(
        run_id=RUN_ID, task="banking77", model="embedded:smollm2-135m:5c3f0e9d2a7b1146", target=TARGET,
        metric="accuracy", n_eval=N, variants=variants, skipped={}, recommendation=recommendation,
        shipped="fewshot-knn-constrained", budget={"max_tokens": 14, "stop": ["\n"], "reason": "the longest label"},
        stats=RunStats(calls=1200), costs=costs, decision=decision,
        extra={"stale_adapters": {"finetune-rag": ADAPTERS["finetune-rag"]["base_model"]},
               "finetune_costs": {"finetune": {"training": 0.0468, "retraining_per_year": 0.19},
                                  "finetune-rag": {"training": 0.1753, "retraining_per_year": 0.70}}},
    ).record()
    tuned = ("finetune", "finetune-constrained", "finetune-rag")
    return result.model_copy(update={"variants": [
        v.model_copy(update={"adapters": [AdapterRecord(name=v.name.removesuffix("-constrained"), kind="lora-gguf",
                                                        path="a.gguf", meta=ADAPTERS[v.name.removesuffix("-constrained")])]})
        if v.name in tuned else v for v in result.variants]})
