"""What the proposer model is asked, and how its answer becomes a candidate instruction.

Two kinds of proposal, both in GEPA's manner but in rungwise's own words:

- *grounded*: the task's spec (what it is, the output format) and a few train rows; write the instruction;
- *reflective*: the current instruction, a minibatch of dev rows with the model's answers, the expected
  answers and the metric's feedback; write a better instruction that fixes what went wrong.

An instruction replaces the task line of the clear prompt (`Task: ...`); the output format and the constraints
stay the spec's, so a proposal can never drop the label list or the JSON keys. The proposer's text is untrusted:
it is cut to the first fenced block (or taken whole), stripped of control characters and bounded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rungwise.task.data import Example
from rungwise.textsafe import storable

#: the longest instruction kept (characters): a proposer that rambles is cut, not followed
MAX_INSTRUCTION = 1200
#: characters of one input, answer or expected answer shown to the proposer
SHOWN = 300

_FENCE = re.compile(r"```[^\n`]*\n?(.*?)```", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Attempt:
    """One row a candidate was run on: what it answered, what was expected, and the metric's word on it."""

    example: Example
    output: str
    score: float
    feedback: str


def _cut(text: str, n: int = SHOWN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def grounded_prompt(description: str, output_format: Sequence[str], rows: Sequence[Example]) -> str:
    """Ask for an instruction from the spec and a few train rows."""
    shown = "\n".join(f"Input: {_cut(ex.input)}\nExpected output: {_cut(ex.target)}\n" for ex in rows)
    fmt = "\n".join(output_format[:12]) + ("\n..." if len(output_format) > 12 else "")
    return (f"An assistant will be given inputs and must produce outputs for this task: {description}\n\n"
            f"The required output format is:\n{fmt}\n\nSome inputs with the outputs expected of them:\n\n{shown}\n"
            "Write the instruction for the assistant: say precisely what the task is, what to look at in the "
            "input and how to decide the output, in a few sentences. Do not repeat the examples or the format. "
            "Write the new instruction inside ``` blocks.")


def reflective_prompt(instruction: str, attempts: Sequence[Attempt]) -> str:
    """Ask for a better instruction from the current one and how it fared on a minibatch."""
    shown = "\n".join(f"Input: {_cut(a.example.input)}\nAssistant's output: {_cut(a.output)}\n"
                      f"Expected output: {_cut(a.example.target)}\nFeedback: {a.feedback}\n" for a in attempts)
    return ("I gave an assistant the following instruction for a task:\n"
            f"```\n{instruction}\n```\n\n"
            "Here are inputs it was given, its outputs, the expected outputs and feedback on each:\n\n"
            f"{shown}\n"
            "Write a new instruction for the assistant. Read the inputs and the expected outputs carefully, work "
            "out what the task really asks and the rules the expected outputs follow, and state them so that the "
            "assistant gets the failed inputs right without breaking the ones it got right. Keep it to a few "
            "sentences. Write the new instruction inside ``` blocks.")


def instruction_from(text: str) -> str | None:
    """The instruction in a proposer's answer: its first fenced block, else the whole answer; cleaned and bounded.
    None when nothing usable is left."""
    match = _FENCE.search(text or "")
    body = match.group(1) if match else (text or "").replace("```", "")
    body = storable(_CONTROL.sub(" ", body)).strip()
    lines = [line.rstrip() for line in body.splitlines()]
    body = "\n".join(line for line in lines if line.strip()).strip()
    if len(body) > MAX_INSTRUCTION:
        body = body[:MAX_INSTRUCTION].rsplit(" ", 1)[0].rstrip() + "…"
    return body if len(body) >= 8 else None


def feedback_for(score: float, failure: str | None, binary: bool) -> str:
    """The metric's word on one answer, for the proposer."""
    if failure == "format":
        return "the output does not follow the required output format, so it could not be scored"
    if score >= 1.0:
        return "correct"
    if binary or score <= 0.0:
        return "wrong: it differs from the expected output"
    return f"partly right: scored {score:.2f} of 1"
