"""Token and cost estimates of a variant before any call: `climb --dry-run` and the cost cap use them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rungwise.costs import cost_per_call
from rungwise.data import Example
from rungwise.models.base import Model
from rungwise.rungs.base import Variant
from rungwise.task import CostSpec

#: chat-template tokens around each message (role markers, separators); generous for common templates
PER_MESSAGE = 5


@dataclass(frozen=True)
class Estimate:
    variant: str
    calls: int
    prompt_tokens: int
    #: at most: every call generating its whole budget
    completion_tokens: int
    cost: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TokenEstimator:
    def __init__(self, model: Model) -> None:
        self.model = model
        self._memo: dict[str, int] = {}

    async def count(self, text: str) -> int:
        if text not in self._memo:
            n = await self.model.count_tokens(text)
            self._memo[text] = n if n is not None else math.ceil(len(text) / 3.5)
        return self._memo[text]


async def estimate_variant(variant: Variant, examples: Sequence[Example], estimator: TokenEstimator,
                           costs: CostSpec) -> Estimate:
    if variant.build is None:
        return Estimate(variant.name, 0, 0, 0, 0.0)
    prompt = completion = 0
    for ex in examples:
        req = variant.build(ex)
        for m in req.messages:
            prompt += await estimator.count(m.content) + PER_MESSAGE
        completion += req.max_tokens or 256
    return Estimate(variant.name, len(examples), prompt, completion, cost_per_call(prompt, completion, costs))
