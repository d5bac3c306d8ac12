"""Paired comparison of two runs (a new base model, a new prompt, a new adapter), and the CI gate built on it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rungwise import stats
from rungwise.errors import StoreError
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
                                 test.high, test.p_value, test.method, sig and test.difference < 0, sig and test.difference > 0))
    if not diffs:
        raise StoreError(f"Runs {a_info.id} and {b_info.id} share no scored variant on common examples; nothing to compare.")
    return diffs
