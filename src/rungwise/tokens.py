"""Counting tokens: the model's own tokenizer where it has one, else one estimate used everywhere (the generation
budget, the dry run and the cost cap, the rag context budget), flagged as an estimate."""

from __future__ import annotations

import math

from rungwise.models.base import Model


def estimate_tokens(text: str) -> int:
    """A typical count for English with a BPE tokenizer: 1.5 tokens per word, and at least one per 4 characters
    (identifiers such as `card_payment_wrong_exchange_rate` are one word of many tokens)."""
    return max(math.ceil(1.5 * len(text.split())), math.ceil(len(text) / 4))


def upper_bound_tokens(text: str) -> int:
    """A count BPE tokenizers rarely exceed (2 characters a token): where too few tokens would cut answers short."""
    return math.ceil(len(text) / 2)


class TokenCounter:
    """Counts with the model's tokenizer when it has one (memoised), else estimates; `estimated` says which."""

    def __init__(self, model: Model, *, conservative: bool = False) -> None:
        self.model = model
        self.conservative = conservative
        self._memo: dict[str, int] = {}
        self.estimated = False

    async def count(self, text: str) -> int:
        if text not in self._memo:
            n = await self.model.count_tokens(text)
            if n is None:
                self.estimated = True
                n = upper_bound_tokens(text) if self.conservative else estimate_tokens(text)
            self._memo[text] = n
        return self._memo[text]
