"""The baseline rung: the instruction the team uses today, then the input, as one user message."""

from __future__ import annotations

from rungwise.models.base import Message, Request
from rungwise.rungs.base import Rung, RungContext, Variant, register
from rungwise.task.data import Example
from rungwise.task.spec import Task


@register
class BaselineRung(Rung):
    name = "baseline"
    order = 0
    kind = "baseline"
    summary = "the task's instruction as the team writes it today"

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        instruction = task.spec.instruction.strip()
        budget = context.budget

        def build(ex: Example) -> Request:
            return Request(
                messages=(Message("user", f"{instruction}\n\n{ex.input}"),),
                max_tokens=budget.max_tokens,
                stop=budget.stop,
            )

        return [Variant("baseline", self.name, build, config={"instruction": instruction})]
