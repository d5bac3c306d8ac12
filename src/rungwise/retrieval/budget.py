"""Fit ranked passages into a token budget: whole passages while they fit, then the start of the next one.

The budget is checked on the joined text (passages plus separators) with the caller's token counter, so a
real tokenizer's merges across a boundary are counted too; the result never exceeds the budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rungwise.models.tokens import estimate_tokens

TokenCounter = Callable[[str], int]

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class FittedContext:
    passages: list[str]  # kept in rank order; the last one may be cut short
    tokens: int  # count_tokens of the joined passages
    truncated: bool  # the last kept passage was cut
    dropped: int  # passages left out entirely (a cut passage is not counted)

    def text(self, separator: str = "\n\n") -> str:
        return separator.join(self.passages)


def fit_to_budget(
    passages: Sequence[str],
    budget: int,
    count_tokens: TokenCounter = estimate_tokens,
    *,
    separator: str = "\n\n",
) -> FittedContext:
    """Keep passages in order while `count_tokens(separator.join(kept))` stays within `budget`.

    The first passage that does not fit is cut to its longest prefix of whole words that does (found by
    bisection, each candidate checked), and nothing after it is kept.
    """
    if budget < 0:
        raise ValueError(f"budget must be non-negative, got {budget}")
    kept: list[str] = []
    used = 0
    for i, passage in enumerate(passages):
        candidate = count_tokens(separator.join([*kept, passage]))
        if candidate <= budget:
            kept.append(passage)
            used = candidate
            continue
        prefix, tokens = _longest_prefix(passage, kept, budget, count_tokens, separator)
        if prefix:
            kept.append(prefix)
            used = tokens
        return FittedContext(kept, used, truncated=bool(prefix), dropped=len(passages) - i - (1 if prefix else 0))
    return FittedContext(kept, used, truncated=False, dropped=0)


def _longest_prefix(
    passage: str, kept: list[str], budget: int, count_tokens: TokenCounter, separator: str
) -> tuple[str, int]:
    ends = [m.end() for m in _WORD.finditer(passage)]
    best, best_tokens = "", 0
    lo, hi = 1, len(ends) - 1  # a prefix of all the words is the passage itself, which did not fit
    while lo <= hi:
        mid = (lo + hi) // 2
        prefix = passage[: ends[mid - 1]]
        tokens = count_tokens(separator.join([*kept, prefix]))
        if tokens <= budget:
            best, best_tokens = prefix, tokens
            lo = mid + 1
        else:
            hi = mid - 1
    return best, best_tokens
