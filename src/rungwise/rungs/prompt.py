"""The prompt rung: a structured system prompt (task, output format, constraints), then the input.

The shared part goes first so that llama.cpp reuses its KV prefix across calls; `prefix_first=False`
puts the input first instead, which exists only to measure what that ordering costs.
"""

from __future__ import annotations

from rungwise.models.base import Message, Request
from rungwise.rungs.base import Rung, RungContext, Variant, register
from rungwise.rungs.constrained import with_constrained_twin
from rungwise.rungs.prompting import structured_system_prompt
from rungwise.task.data import Example
from rungwise.task.spec import Task


@register
class PromptRung(Rung):
    name = "prompt"
    order = 10
    kind = "prompt"
    summary = "a structured prompt: the task, the output format, the constraints"

    def __init__(self, prefix_first: bool = True) -> None:
        self.prefix_first = prefix_first

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        system = structured_system_prompt(task)
        budget = context.budget

        if self.prefix_first:
            def build(ex: Example) -> Request:
                return Request(
                    messages=(Message("system", system), Message("user", ex.input)),
                    max_tokens=budget.max_tokens,
                    stop=budget.stop,
                )
        else:
            def build(ex: Example) -> Request:
                return Request(
                    messages=(Message("user", f"Input: {ex.input}\n\n{system}"),),
                    max_tokens=budget.max_tokens,
                    stop=budget.stop,
                )

        name = "prompt" if self.prefix_first else "prompt-input-first"
        variant = Variant(name, self.name, build, config={"system": system, "prefix_first": self.prefix_first})
        if not self.prefix_first:
            return [variant]
        return with_constrained_twin(variant, task, context.info, budget)
