"""The training rows as files for fine-tuning elsewhere: a hosted API, or TRL/axolotl on a GPU.

- OpenAI chat fine-tuning JSONL: `{"messages": [...prompt..., {"role": "assistant", "content": target}]}`
- prompt/completion JSONL (TRL's and axolotl's plain format): `{"prompt": ..., "completion": ...}`, where
  the prompt is either the rendered chat text (`prompt_text`, when the caller has the model's template)
  or, by default, the chat messages themselves (TRL's conversational prompt/completion form).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rungwise.finetune.dataset import TrainingExample
from rungwise.outputs import write_output


def openai_chat_record(example: TrainingExample) -> dict[str, Any]:
    """One line of an OpenAI chat fine-tuning file: the prompt's messages, then the answer as the assistant's."""
    return {"messages": [*example.chat(), {"role": "assistant", "content": example.target}]}


def prompt_completion_record(
    example: TrainingExample, prompt_text: Callable[[TrainingExample], str] | None = None
) -> dict[str, Any]:
    """One prompt/completion line. Without `prompt_text`, the prompt is the list of chat messages and the
    completion a one-message list (TRL's conversational form, which applies the trainer's chat template)."""
    if prompt_text is None:
        return {"prompt": example.chat(), "completion": [{"role": "assistant", "content": example.target}]}
    return {"prompt": prompt_text(example), "completion": example.target}


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """One JSON object per line, written atomically (`rungwise.outputs`)."""
    lines = [json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n" for rec in records]
    write_output(path, lines, what="the fine-tuning file")
    return len(lines)


def write_openai_jsonl(examples: Iterable[TrainingExample], path: Path | str) -> int:
    """Write an OpenAI chat fine-tuning file; returns the number of lines."""
    return _write_jsonl(Path(path), (openai_chat_record(e) for e in examples))


def write_prompt_completion_jsonl(
    examples: Iterable[TrainingExample],
    path: Path | str,
    *,
    prompt_text: Callable[[TrainingExample], str] | None = None,
) -> int:
    """Write a prompt/completion file (TRL, axolotl); returns the number of lines."""
    return _write_jsonl(Path(path), (prompt_completion_record(e, prompt_text) for e in examples))
