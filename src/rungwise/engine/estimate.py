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


#: what one proposal is estimated at: the reflective prompt (the instruction and a minibatch of attempts) and
#: the proposer's whole answer budget
PROPOSAL_PROMPT_TOKENS = 1500
PROPOSAL_COMPLETION_TOKENS = 320


def estimate_search(variant: Variant, per_eval: Estimate, costs: CostSpec, proposer: CostSpec) -> Estimate | None:
    """The prompt search's own calls, before it runs (`--dry-run`): its whole budget of metric calls at the size of
    the variant's eval calls, and a proposal for every round the budget allows (at most one per two minibatches of
    4), priced at the proposer's prices. None for a variant without a planned search, and for a constrained twin
    (the search runs once for both)."""
    plan = variant.config.get("search") or {}
    if not plan.get("planned") or not per_eval.calls or variant.twin_of:  # one search, whatever its twins
        return None
    calls = int(plan["budget"])
    prompt = per_eval.prompt_tokens / per_eval.calls * calls
    completion = per_eval.completion_tokens / per_eval.calls * calls
    proposals = 1 + calls // 8
    cost = (cost_per_call(prompt, completion, costs)
            + proposals * cost_per_call(PROPOSAL_PROMPT_TOKENS, PROPOSAL_COMPLETION_TOKENS, proposer))
    return Estimate(f"{variant.name} (search)", calls + proposals, round(prompt + proposals * PROPOSAL_PROMPT_TOKENS),
                    round(completion + proposals * PROPOSAL_COMPLETION_TOKENS), cost)
