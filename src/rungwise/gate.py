"""The CI gate: re-score a baseline run's rungs on the baseline's own eval rows (its sample and seed) with the
current model and prompts, and compare paired, variant by variant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rungwise.climb import ClimbResult, climb
from rungwise.compare import VariantDiff, compare_runs
from rungwise.models.base import Model
from rungwise.options import NOT_SET, ClimbOptions
from rungwise.store import Store
from rungwise.task import Task


@dataclass
class GateResult:
    baseline_run: str
    result: ClimbResult
    diffs: list[VariantDiff]

    @property
    def regressed(self) -> list[VariantDiff]:
        return [d for d in self.diffs if d.regressed]

    @property
    def passed(self) -> bool:
        return not self.regressed


def gate(task: Task | str | Path, baseline: str, model: str | Model = "local", *,
         store_path: str | Path | None = None) -> GateResult:
    """Re-score `baseline`'s rungs (a run id or prefix) on its own rows; a variant regresses when the paired test
    finds it significantly worse."""
    store = Store(store_path)
    try:
        ref = store.get_run(baseline)
        rungs = sorted({rung for _, rung, _ in store.variants(ref.id)})
        settings = ref.settings
        options = ClimbOptions(full=bool(settings.get("full")), all_rungs=True, rungs=rungs, store_path=store_path,
                               resume=False, leakage=settings.get("leakage"),
                               sample=settings.get("sample") if not settings.get("full") else NOT_SET,
                               seed=settings.get("seed"))
        result = climb(task, model, options)
        return GateResult(ref.id, result, compare_runs(store, ref.id, result.run_id))
    finally:
        store.close()
