"""What each rung costs: per call and per month at the task's volume, and fine-tuning's whole bill.

Fine-tuning's fixed costs (the labelled dataset, training, retraining each time the base model changes, and
the eval runs that keep it honest) are spread over AMORTISE_MONTHS; the break-even volume is the monthly call
count at which the fine-tune's cheaper calls pay for them, against the cheapest rung that meets the target.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from rungwise.task.spec import CostSpec

AMORTISE_MONTHS = 12


@dataclass(frozen=True)
class RungCost:
    variant: str
    cost_per_call: float
    cost_per_month: float
    currency: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: hours a deployed model is billed in a month (365 x 24 / 12)
HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class FinetuneCost:
    dataset: float
    training: float
    retraining_per_year: float
    eval_runs_per_month: float
    fixed_per_month: float
    calls_per_month: float
    total_per_month: float
    #: monthly calls at which fine-tuning costs the same as the reference rung; None when it never does
    break_even_calls_per_month: float | None
    reference: str | None
    #: a deployed hosted fine-tune's hosting fee per month (in `fixed_per_month`)
    hosting_per_month: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cost_per_call(prompt_tokens: float, completion_tokens: float, costs: CostSpec) -> float:
    return (prompt_tokens * costs.input_price_per_million + completion_tokens * costs.output_price_per_million) / 1e6


def price(variant: str, prompt_tokens: float, completion_tokens: float, costs: CostSpec) -> RungCost:
    per_call = cost_per_call(prompt_tokens, completion_tokens, costs)
    return RungCost(variant, per_call, per_call * costs.calls_per_month, costs.currency)


def finetune_cost(
    costs: CostSpec,
    *,
    per_call: float,
    train_examples: int,
    train_seconds: float,
    eval_rows: int,
    reference: RungCost | None,
    trained_tokens: float | None = None,
    hosted: bool = False,
) -> FinetuneCost:
    """Fine-tuning's whole monthly bill and its break-even volume against `reference`. `trained_tokens`: a hosted
    job's, priced per token (`training_price_per_million_tokens`) instead of by the machine hour; `hosted`: the
    fine-tuned model is deployed at a provider, whose hosting fee (`hosting_price_per_hour`) runs every hour."""
    dataset = train_examples * costs.labelled_example_cost
    training = train_seconds / 3600 * costs.training_price_per_hour if trained_tokens is None \
        else trained_tokens / 1e6 * costs.training_price_per_million_tokens
    retraining = costs.base_model_updates_per_year * training
    evals = costs.eval_runs_per_month * eval_rows * per_call
    hosting = costs.hosting_price_per_hour * HOURS_PER_MONTH if hosted else 0.0
    fixed = (dataset + training) / AMORTISE_MONTHS + retraining / 12 + evals + hosting
    calls = per_call * costs.calls_per_month
    break_even: float | None = None
    if reference is not None:
        saving = reference.cost_per_call - per_call
        if saving > 0:
            break_even = fixed / saving
        elif fixed == 0 and saving == 0:
            break_even = 0.0
    return FinetuneCost(
        dataset=dataset, training=training, retraining_per_year=retraining, eval_runs_per_month=evals,
        fixed_per_month=fixed, calls_per_month=calls, total_per_month=fixed + calls,
        break_even_calls_per_month=break_even if break_even is None or math.isfinite(break_even) else None,
        reference=reference.variant if reference else None, hosting_per_month=hosting,
    )
