"""Token and cost estimates of a variant before any call: `climb --dry-run` and the cost cap use them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rungwise.judge.costs import cost_per_call
from rungwise.models.tokens import TokenCounter
from rungwise.rungs.base import Variant
from rungwise.task.data import Example
from rungwise.task.spec import CostSpec

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




async def estimate_variant(variant: Variant, examples: Sequence[Example], estimator: TokenCounter,
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
