"""Training rows as token sequences: the prompt exactly as llama.cpp renders it, then the answer.

A row is chat `messages` (the prompt) and a `target` (the answer). The prompt is rendered with the
tokenizer's own chat template and `add_generation_prompt=True`, which is what llama.cpp's server does
for /v1/chat/completions (SmolLM2's template adds its default system prompt when there is no system
message; serving adds it too). The answer is the target's tokens followed by the end-of-turn token, and
only those tokens carry loss.

Batches group rows of similar length, so a batch is padded only up to its own longest row.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rungwise.errors import RungwiseError
from rungwise.models.base import Message

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PreTrainedTokenizerBase

#: the label of a position that carries no loss (the value torch's cross-entropy ignores)
IGNORE_INDEX = -100
END_OF_TURN = "<|im_end|>"


@dataclass(frozen=True)
class TrainingExample:
    """One training row: the prompt as chat messages, and the answer the model should give."""

    messages: tuple[Message, ...]
    target: str

    @classmethod
    def of(cls, messages: Sequence[Message | Mapping[str, str]], target: str) -> TrainingExample:
        """Build from `Message`s or `{"role": ..., "content": ...}` dicts."""
        msgs = tuple(m if isinstance(m, Message) else Message(m["role"], m["content"]) for m in messages)  # type: ignore[arg-type]
        return cls(messages=msgs, target=target)

    def chat(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]


@dataclass(frozen=True)
class EncodedExample:
    """Token ids of prompt + answer, and the labels (`IGNORE_INDEX` on every prompt token)."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_target(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)


#: a shared prefix shorter than this is not worth a separate forward pass
MIN_SHARED_PREFIX = 8


@dataclass(frozen=True)
class Batch:
    """Right-padded token ids and labels of a few rows; `n_tokens` counts the real (non-padding) tokens.

    `shared_prefix` is how many leading prompt tokens every row has in common (the system prompt and the
    instruction, typically), or 0 when there is nothing worth sharing. It always leaves the token before
    the first answer token outside the prefix.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    n_tokens: int
    n_target: int
    shared_prefix: int = 0


def render_prompt(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> str:
    """The prompt text llama.cpp's server builds for these messages (the model's chat template)."""
    chat = [{"role": m.role, "content": m.content} for m in messages]
    return str(tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))


def end_of_turn_id(tokenizer: PreTrainedTokenizerBase) -> int:
    tid = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if not isinstance(tid, int) or tid == tokenizer.unk_token_id:
        raise RungwiseError(f"The tokenizer has no {END_OF_TURN} token: this chat format is not supported.")
    return tid


def encode_example(tokenizer: PreTrainedTokenizerBase, example: TrainingExample) -> EncodedExample:
    """Prompt tokens (as llama.cpp tokenizes the rendered prompt), then target tokens and end-of-turn."""
    prompt_ids = list(tokenizer(render_prompt(tokenizer, example.messages), add_special_tokens=True)["input_ids"])
    answer_ids = list(tokenizer(example.target, add_special_tokens=False)["input_ids"])
    answer_ids.append(end_of_turn_id(tokenizer))
    return EncodedExample(
        input_ids=tuple(prompt_ids + answer_ids),
        labels=(IGNORE_INDEX,) * len(prompt_ids) + tuple(answer_ids),
    )


def split_train_val(
    examples: Sequence[Any], *, val_fraction: float, max_val: int, max_train: int | None, seed: int
) -> tuple[list[Any], list[Any]]:
    """A seeded shuffle, then the validation rows (never more than `max_val`), then at most `max_train` rows."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = min(max_val, int(round(val_fraction * len(order))))
    if len(order) - n_val < 1:
        n_val = 0
    val = [examples[i] for i in order[:n_val]]
    train = [examples[i] for i in order[n_val:]]
    if max_train is not None:
        train = train[:max_train]
    return train, val


def length_grouped_batches(lengths: Sequence[int], batch_size: int, *, seed: int) -> list[list[int]]:
    """Indices cut into batches of rows of similar length, in a seeded random order.

    Rows are sorted by length (ties broken at random), cut into runs of `batch_size`, and the runs are
    shuffled: each batch pads only up to its own longest row, and the order still varies with the seed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rng = random.Random(seed)
    keys = [(n, rng.random(), i) for i, n in enumerate(lengths)]
    order = [i for _, _, i in sorted(keys)]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(rows: Sequence[EncodedExample], pad_id: int) -> Batch:
    """Right-pad rows to the longest of them. Padding sits after every real token, so with a causal mask
    no real token ever attends to it, and its labels are `IGNORE_INDEX`."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.tensor(r.input_ids, dtype=torch.long)
        labels[k, : len(r)] = torch.tensor(r.labels, dtype=torch.long)
    return Batch(
        input_ids=ids,
        labels=labels,
        n_tokens=sum(len(r) for r in rows),
        n_target=sum(r.n_target for r in rows),
        shared_prefix=shared_prefix(rows),
    )


def shared_prefix(rows: Sequence[EncodedExample]) -> int:
    """Leading tokens common to every row, ending before the last prompt token of the shortest prompt."""
    if len(rows) < 2:
        return 0
    limit = min(len(r) - r.n_target for r in rows) - 1
    first = rows[0].input_ids
    n = 0
    while n < limit and all(r.input_ids[n] == first[n] for r in rows):
        n += 1
    return n if n >= MIN_SHARED_PREFIX else 0


#: training rows as the rungs give them: the prompt's messages and the answer to learn
Rows = list[tuple[tuple[Message, ...], str]]


def data_hash(rows: Rows) -> str:
    """A short digest of training rows: what keys an adapter (the same rows reuse it)."""
    blob = json.dumps([[[[m.role, m.content] for m in msgs], target] for msgs, target in rows])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
