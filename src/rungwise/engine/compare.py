"""Paired comparison of two runs (a new base model, a new prompt, a new adapter), and the CI gate built on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rungwise.errors import StoreError
from rungwise.judge import stats
from rungwise.store import Store


@dataclass(frozen=True)
class VariantDiff:
    variant: str
    n: int
    score_a: float
    score_b: float
    difference: float
    low: float
    high: float
    p_value: float
    method: str
    regressed: bool
    improved: bool
    #: rows that scored lower in b than in a (right to wrong, for pass/fail metrics), and higher
    worse_rows: int = 0
    better_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelChange:
    """What changed in the model between two runs: its fingerprint, the models the server said it served, and the
    adapters of either run trained on another base than b's model (stale on it: retrain them)."""

    model_a: str
    model_b: str
    served_a: list[str]
    served_b: list[str]
    #: "a:finetune" -> the base model it was trained on
    stale_adapters: dict[str, str]

    @property
    def changed(self) -> bool:
        return self.model_a != self.model_b or (bool(self.served_a and self.served_b)
                                                and self.served_a != self.served_b)

    def lines(self) -> list[str]:
        out = []
        if self.model_a != self.model_b:
            out.append(f"the model changed: {self.model_a} -> {self.model_b}")
        if self.served_a and self.served_b and self.served_a != self.served_b:
            out.append(f"the server answered as {', '.join(self.served_a)} in a and {', '.join(self.served_b)} in b")
        for name, base in self.stale_adapters.items():
            run, _, variant = name.partition(":")
            out.append(f"adapter {variant} of run {run} is stale on b's model: trained on {base}; retrain it")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "changed": self.changed}


def model_change(store: Store, run_a: str, run_b: str) -> ModelChange:
    from rungwise.record.stored import base_of

    a, b = store.get_run(run_a), store.get_run(run_b)

    def served(run_id: str) -> list[str]:
        return sorted({r.served_model for r in store.results(run_id) if r.served_model})

    base_b = base_of(b.model)
    stale = {f"{label}:{art['name']}": str(art["meta"]["base_model"])
             for label, run in (("a", a), ("b", b)) for art in store.artifacts(run.id)
             if art["meta"].get("base_model") and str(art["meta"]["base_model"]) != base_b}
    return ModelChange(a.model, b.model, served(a.id), served(b.id), stale)


def compare_runs(store: Store, run_a: str, run_b: str, *, alpha: float = 0.05) -> list[VariantDiff]:
    """Every variant scored in both runs, on the examples both scored, with a paired test (b minus a)."""
    a_info, b_info = store.get_run(run_a), store.get_run(run_b)
    diffs: list[VariantDiff] = []
    b_variants = {name for name, _, _ in store.variants(b_info.id)}
    for name, _, _ in store.variants(a_info.id):
        if name not in b_variants:
            continue
        a = {r.example_id: r.score for r in store.results(a_info.id, name)}
        b = {r.example_id: r.score for r in store.results(b_info.id, name)}
        common = sorted(a.keys() & b.keys())
        if not common:
            continue
        xa = np.array([a[k] for k in common])
        xb = np.array([b[k] for k in common])
        test = stats.compare(xa, xb)
        sig = test.p_value < alpha
        diffs.append(VariantDiff(name, len(common), float(xa.mean()), float(xb.mean()), test.difference, test.low,
                                 test.high, test.p_value, test.method, sig and test.difference < 0, sig and test.difference > 0,
                                 int((xb < xa).sum()), int((xb > xa).sum())))
    if not diffs:
        raise StoreError(f"Runs {a_info.id} and {b_info.id} share no scored variant on common examples; nothing to compare.")
    return diffs
