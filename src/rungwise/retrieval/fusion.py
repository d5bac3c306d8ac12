"""Reciprocal rank fusion: score(item) = sum over lists of 1 / (k + rank), rank counted from 1."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[T]], k: int = RRF_K, limit: int | None = None
) -> list[tuple[T, float]]:
    """Fuse ranked lists of ids (best first) into one list of (id, fused score), best first.

    Ranks are positions in each list as given; an id repeated within one list counts once, at its best rank. Equal fused scores keep the order in which
    the ids first appear (list by list), so the result is deterministic.
    """
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    scores: dict[T, float] = {}
    first_seen: dict[T, int] = {}
    for ranking in rankings:
        seen_here: set[T] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen_here:
                continue
            seen_here.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            first_seen.setdefault(item, len(first_seen))
    fused = sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))
    return fused if limit is None else fused[:limit]
