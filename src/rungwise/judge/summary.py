"""What one variant scored: score with its interval, failures by kind, tokens and latency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from rungwise.judge import stats


class ScoredRow(Protocol):
    """What the summary reads of one scored answer (the store's `ResultRow` is one)."""

    @property
    def score(self) -> float: ...
    @property
    def failure(self) -> str | None: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def latency_s(self) -> float: ...
    @property
    def extras(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class VariantSummary:
    name: str
    rung: str
    probe: bool
    n: int
    score: float
    low: float
    high: float
    method: str
    format_failures: int
    content_failures: int
    mean_prompt_tokens: float
    mean_completion_tokens: float
    latency_p50_s: float
    latency_p95_s: float
    #: seconds of model time per example (sum of latencies / n; cached answers count their original latency)
    seconds_per_example: float
    extras: dict[str, float] = field(default_factory=dict)
    #: what the rung is for (its registered kind); empty: read from the registry by the rung's name
    kind: str = ""
    #: `ladder`, `oracle`, `reference` or `curve`; left empty, a summary with `probe` set counts as an oracle
    purpose: str = ""
    #: the prompt carried retrieved passages
    retrieval: bool = False
    #: the unconstrained variant this one constrains
    twin_of: str | None = None
    #: rows taken from the unconstrained twin's answer (which the constraint cannot change): no call made
    derived: int = 0
    #: for a reference or probe: what it is, in words ("the label of the nearest train row")
    description: str = ""
    #: set when scoring stopped at a look because the variant could not meet the target
    #: (`rungwise.judge.early_stop.EarlyStop.to_dict()`: rows, of, score, upper, target, confidence, method)
    stopped: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.purpose:
            object.__setattr__(self, "purpose", "oracle" if self.probe else "ladder")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(name: str, rung: str, rows: Sequence[ScoredRow], *, binary: bool, probe: bool = False, kind: str = "",
              purpose: str = "", retrieval: bool = False, twin_of: str | None = None,
              description: str = "", stopped: dict[str, Any] | None = None) -> VariantSummary:
    scores = np.array([r.score for r in rows], dtype=float)
    s = stats.score(scores, binary=binary)
    lat = np.array([r.latency_s for r in rows], dtype=float)
    extras: dict[str, float] = {}
    keys = sorted({k for r in rows for k in r.extras} - {"derived"})
    for k in keys:
        vals = [r.extras[k] for r in rows if k in r.extras]
        extras[k] = float(np.mean(vals)) if vals else 0.0
    return VariantSummary(
        name=name, rung=rung, probe=probe, n=len(rows), score=s.value, low=s.low, high=s.high, method=s.method,
        format_failures=sum(r.failure == "format" for r in rows),
        content_failures=sum(r.failure == "content" for r in rows),
        mean_prompt_tokens=float(np.mean([r.prompt_tokens for r in rows])) if rows else 0.0,
        mean_completion_tokens=float(np.mean([r.completion_tokens for r in rows])) if rows else 0.0,
        latency_p50_s=float(np.percentile(lat, 50)) if rows else 0.0,
        latency_p95_s=float(np.percentile(lat, 95)) if rows else 0.0,
        seconds_per_example=float(lat.mean()) if rows else 0.0,
        extras=extras, kind=kind, purpose=purpose, retrieval=retrieval,
        twin_of=twin_of, derived=sum(1 for r in rows if r.extras.get("derived")), description=description,
        stopped=stopped,
    )
