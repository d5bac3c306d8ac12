"""The token sequences training sees: the prompt as llama.cpp renders it, loss on the answer only, and
batches padded no further than their longest row."""

import random

import pytest

from rungwise.finetune.dataset import (
    IGNORE_INDEX,
    TrainingExample,
    collate,
    encode_example,
    length_grouped_batches,
    render_prompt,
    split_train_val,
)
from rungwise.models.base import Message

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def test_loss_mask_covers_exactly_the_answer_and_end_of_turn(tokenizer):
    ex = TrainingExample.of([{"role": "user", "content": "Where is my card?"}], "card_arrival")
    enc = encode_example(tokenizer, ex)
    assert len(enc.input_ids) == len(enc.labels)
    answer = [i for i, t in enumerate(enc.labels) if t != IGNORE_INDEX]
    target_ids = tokenizer("card_arrival", add_special_tokens=False)["input_ids"]
    # the answer is one contiguous run at the very end: the target's tokens, then <|im_end|>
    assert answer == list(range(len(enc) - len(target_ids) - 1, len(enc)))
    assert [enc.labels[i] for i in answer] == [*target_ids, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert [enc.input_ids[i] for i in answer] == [enc.labels[i] for i in answer]
    assert enc.n_target == len(target_ids) + 1
    # everything before is the prompt, unlabelled, and it is the chat template with the generation prompt
    prompt = tokenizer.decode(enc.input_ids[: answer[0]])
    assert prompt.endswith("<|im_start|>user\nWhere is my card?<|im_end|>\n<|im_start|>assistant\n")
    assert DEFAULT_SYSTEM in prompt  # SmolLM2's template adds its system prompt, as llama.cpp's server does
    assert tokenizer.decode([enc.labels[i] for i in answer]) == "card_arrival<|im_end|>"


def test_own_system_message_replaces_the_default(tokenizer):
    ex = TrainingExample.of([Message("system", "Label it."), Message("user", "hi")], "greeting")
    prompt = render_prompt(tokenizer, ex.messages)
    assert prompt == "<|im_start|>system\nLabel it.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_batches_are_padded_only_to_their_longest_row(tokenizer):
    rng = random.Random(1)
    words = "card transfer refund pin cash atm fee limit rate top-up".split()
    rows = [
        TrainingExample.of([{"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(1, 30)))}],
                           " ".join(rng.choices(words, k=rng.randint(1, 4))))
        for _ in range(37)
    ]
    enc = [encode_example(tokenizer, r) for r in rows]
    lengths = [len(e) for e in enc]
    batches = length_grouped_batches(lengths, 8, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(37))  # every row once
    assert [len(b) for b in batches].count(8) == 4
    pad_id = tokenizer.pad_token_id
    grouped_padding = 0
    for idx in batches:
        batch = collate([enc[i] for i in idx], pad_id)
        longest = max(lengths[i] for i in idx)
        assert batch.input_ids.shape == (len(idx), longest)
        assert batch.n_tokens == sum(lengths[i] for i in idx)
        assert batch.n_target == sum(enc[i].n_target for i in idx)
        for row, i in enumerate(idx):
            # the row's own tokens, then padding that carries no loss
            assert batch.input_ids[row, : lengths[i]].tolist() == list(enc[i].input_ids)
            assert (batch.labels[row, lengths[i]:] == IGNORE_INDEX).all()
            assert (batch.input_ids[row, lengths[i]:] == pad_id).all()
        grouped_padding += batch.input_ids.numel() - batch.n_tokens
        # every row here starts with the default system prompt and "<|im_start|>user\n"
        prefix = tokenizer(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\n")["input_ids"]
        assert batch.shared_prefix >= len(prefix)
        assert (batch.input_ids[:, : batch.shared_prefix] == batch.input_ids[0, : batch.shared_prefix]).all()
        assert batch.shared_prefix < min(lengths[i] - enc[i].n_target for i in idx)  # the prompt's end is not shared
    # grouping by length pads far less than batching in the given order
    naive = [list(range(i, min(i + 8, 37))) for i in range(0, 37, 8)]
    naive_padding = sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in naive)
    assert grouped_padding < naive_padding / 2


def test_no_shared_prefix_between_different_prompts_or_for_one_row(tokenizer):
    a = encode_example(tokenizer, TrainingExample.of([Message("system", "A."), Message("user", "x")], "y"))
    b = encode_example(tokenizer, TrainingExample.of([Message("system", "B."), Message("user", "x")], "y"))
    assert collate([a, b], tokenizer.pad_token_id).shared_prefix == 0  # 3 common tokens: not worth sharing
    assert collate([a], tokenizer.pad_token_id).shared_prefix == 0
    same = collate([a, a], tokenizer.pad_token_id)
    assert same.shared_prefix == len(a) - a.n_target - 1


def test_batch_order_is_seeded():
    lengths = [random.Random(0).randint(5, 50) for _ in range(40)]
    assert length_grouped_batches(lengths, 4, seed=7) == length_grouped_batches(lengths, 4, seed=7)
    assert length_grouped_batches(lengths, 4, seed=7) != length_grouped_batches(lengths, 4, seed=8)
    with pytest.raises(ValueError):
        length_grouped_batches(lengths, 0, seed=0)


def test_validation_split_is_seeded_disjoint_and_capped():
    rows = list(range(100))
    train, val = split_train_val(rows, val_fraction=0.2, max_val=15, max_train=None, seed=1)
    assert len(val) == 15 and len(train) == 85
    assert not set(train) & set(val)
    assert (train, val) == split_train_val(rows, val_fraction=0.2, max_val=15, max_train=None, seed=1)
    assert val != split_train_val(rows, val_fraction=0.2, max_val=15, max_train=None, seed=2)[1]
    train, val = split_train_val(rows, val_fraction=0.1, max_val=100, max_train=30, seed=1)
    assert len(val) == 10 and len(train) == 30
    # a single row is never held out
    assert split_train_val([1], val_fraction=0.5, max_val=10, max_train=None, seed=0) == ([1], [])


@pytest.mark.slow
def test_prompt_tokens_match_the_llama_cpp_server(tokenizer):
    """Training and serving must see identical prompt tokens: compare with the server's own rendering."""
    import httpx

    from rungwise.models.embedded import EmbeddedServer

    cases = [
        [Message("user", "Where is my card?")],  # no system message: the template's default one
        [Message("system", "Label the intent."), Message("user", "top up  failed\n")],
        [Message("user", "a"), Message("assistant", "b"), Message("user", "c")],
    ]
    with EmbeddedServer(n_ctx=512) as server:
        root = server.base_url.removesuffix("/v1")
        for messages in cases:
            chat = [{"role": m.role, "content": m.content} for m in messages]
            served = httpx.post(f"{root}/apply-template", json={"messages": chat}, timeout=30).json()["prompt"]
            assert render_prompt(tokenizer, messages) == served
            served_ids = httpx.post(
                f"{root}/tokenize", json={"content": served, "add_special": True, "parse_special": True}, timeout=30
            ).json()["tokens"]
            enc = encode_example(tokenizer, TrainingExample(tuple(messages), "x"))
            n_prompt = len(enc) - enc.n_target
            assert list(enc.input_ids[:n_prompt]) == served_ids
