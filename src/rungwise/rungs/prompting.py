"""Pieces of prompts shared by the rungs: the structured task prompt and the generation budget."""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable

from rungwise.models.base import Message
from rungwise.models.tokens import upper_bound_tokens
from rungwise.rungs.base import GenerationBudget
from rungwise.task.spec import Task

TokenCounter = Callable[[str], Awaitable[int | None]]


def output_format_lines(task: Task) -> list[str]:
    spec = task.spec
    out = spec.output
    lines: list[str] = []
    if out.type == "label":
        assert task.labels is not None
        lines.append("Answer with exactly one label from this list, written exactly as listed, and nothing else:")
        lines.extend(task.labels)
    elif out.type == "json":
        fields = task.json_fields
        if fields:
            lines.append(
                "Answer with one JSON object on a single line and nothing else. Use only these keys, "
                f"and leave out the ones that do not apply: {', '.join(fields)}."
            )
        else:
            lines.append("Answer with one JSON object on a single line and nothing else.")
    else:
        words = [len(ex.target.split()) for ex in task.train] or [len(ex.target.split()) for ex in task.eval]
        typical = max(1, round(statistics.median(words)))
        lines.append(
            f"Answer with the answer alone, as briefly as possible (typically {typical} word{'s' if typical > 1 else ''}): "
            "no full sentence, no explanation."
        )
    if out.description:
        lines.append(out.description)
    return lines


def task_line(task: Task) -> str:
    """What the clear prompt says the task is (its `Task:` line): [prompt] task, else the description."""
    spec = task.spec
    return spec.prompt.task or spec.description or spec.instruction


def structured_system_prompt(task: Task, what: str | None = None) -> str:
    """The prompt rung's system message: the task, the output format, the constraints. `what` replaces the task
    line (the prompt search's instruction); the output format and the constraints stay the spec's.

    It holds everything shared by all calls, so it goes first and llama.cpp reuses its KV cache.
    """
    spec = task.spec
    p = spec.prompt
    if p.template:
        labels = "\n".join(task.labels or [])
        fields = ", ".join(task.json_fields or [])
        return p.template.replace("{labels}", labels).replace("{fields}", fields)
    what = what or task_line(task)
    parts = [f"Task: {what}", "", "Output format:", *output_format_lines(task)]
    constraints = list(p.constraints)
    if spec.output.type == "label":
        constraints.append("Never invent a label that is not in the list.")
    if constraints:
        parts += ["", "Constraints:", *[f"- {c}" for c in constraints]]
    return "\n".join(parts)


def user_turn(text: str) -> Message:
    return Message("user", text)


async def derive_budget(task: Task, count: TokenCounter) -> GenerationBudget:
    """max_tokens from the output spec: the longest label (or train target) in tokens, plus a margin.

    Label tasks also stop at a newline: a strict label parser discards everything after it.
    """
    if task.spec.max_tokens:
        return GenerationBudget(task.spec.max_tokens, reason="set in task.toml")
    if task.spec.output.type == "label":
        assert task.labels is not None
        n = await _longest(count, task.labels)
        return GenerationBudget(n + 4, stop=("\n",), reason=f"longest label {n} tokens + 4")
    pool = task.train or task.eval
    n = await _longest(count, [ex.target for ex in pool])
    budget = max(16, math.ceil(n * 1.25) + 8)
    return GenerationBudget(budget, reason=f"longest {'train' if task.train else 'eval'} target {n} tokens x1.25 + 8")


async def _longest(count: TokenCounter, texts: list[str], candidates: int = 100) -> int:
    """The most tokens any of `texts` takes (token counts follow length closely: the longest by characters
    are the only candidates worth tokenizing)."""
    longest = sorted(set(texts), key=len, reverse=True)[:candidates]
    return max([await _tokens(count, t) for t in longest])


async def _tokens(count: TokenCounter, text: str) -> int:
    n = await count(text)
    if n is None:  # no tokenizer on the server: an upper bound (cutting answers short costs more than a margin)
        n = upper_bound_tokens(text)
    return n
