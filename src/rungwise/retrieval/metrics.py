"""Retrieval metrics over a list of queries: mean recall@k and mean reciprocal rank.

Each query brings its retrieved document ids (best first, as the passages were ranked: a document may recur)
and its set of gold document ids, which must not be empty.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def recall_at_k(retrieved: Sequence[Sequence[str]], gold: Sequence[Collection[str]], k: int) -> float:
    """Mean over queries of the share of gold documents found in the first k retrieved ids."""
    _check(retrieved, gold, k)
    total = 0.0
    for ids, gold_ids in zip(retrieved, gold):
        total += len(set(ids[:k]) & set(gold_ids)) / len(set(gold_ids))
    return total / len(gold)


def mrr(retrieved: Sequence[Sequence[str]], gold: Sequence[Collection[str]], k: int | None = None) -> float:
    """Mean over queries of 1/rank of the first gold id (0 when none is in the first k, or anywhere if k is None)."""
    _check(retrieved, gold, k)
    total = 0.0
    for ids, gold_ids in zip(retrieved, gold):
        wanted = set(gold_ids)
        for rank, doc_id in enumerate(ids[:k] if k is not None else ids, start=1):
            if doc_id in wanted:
                total += 1.0 / rank
                break
    return total / len(gold)


def doc_ids(ranked: Sequence[str], *, dedupe: bool = True) -> list[str]:
    """Document ids in rank order, each kept at its first (best) position when `dedupe`."""
    if not dedupe:
        return list(ranked)
    return list(dict.fromkeys(ranked))


def _check(retrieved: Sequence[Sequence[str]], gold: Sequence[Collection[str]], k: int | None) -> None:
    if isinstance(retrieved, str) or any(isinstance(r, str) for r in retrieved):
        raise TypeError("retrieved must be a list of id lists, one per query")
    if len(retrieved) != len(gold):
        raise ValueError(f"{len(retrieved)} retrieved lists but {len(gold)} gold sets")
    if not gold:
        raise ValueError("no queries to score")
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    for i, gold_ids in enumerate(gold):
        if isinstance(gold_ids, str):
            raise TypeError(f"gold[{i}] is a string; pass a set of ids, e.g. {{{gold_ids!r}}}")
        if len(gold_ids) == 0:
            raise ValueError(f"query {i} has no gold document ids")
