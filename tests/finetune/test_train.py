"""The training job's contract: seeded, resumable, cancellable, budgeted, with early stopping.

These run real optimiser steps of the embedded model on a handful of tiny rows (a few seconds each).
"""

import json

import pytest

from rungwise.errors import RungwiseError
from rungwise.finetune.dataset import TrainingExample
from rungwise.finetune.train import LoraConfig, TrainingJob

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
safetensors_torch = pytest.importorskip("safetensors.torch")

pytestmark = pytest.mark.slow

SYS = {"role": "system", "content": "Reply with the colour code."}
ROWS = [
    TrainingExample.of([SYS, {"role": "user", "content": f"{colour} {n}"}], f"C-{colour[:2].upper()}")
    for n, colour in enumerate(["red", "green", "blue", "black", "white", "pink", "gray", "brown"])
]
# one thread: the same float summation order in every run, so a resumed run can match an uninterrupted one
TINY = LoraConfig(r=4, alpha=8, lr=1e-3, batch_size=2, max_steps=4, val_fraction=0.0, checkpoint_every=2, seed=5, threads=1)


def adapter_weights(result):
    return safetensors_torch.load_file(str(result.adapter_dir / "adapter_model.safetensors"))


def test_sharing_the_prompt_prefix_gives_the_same_loss_and_gradients(hf_cache_dir):
    import dataclasses

    from rungwise.finetune.base_model import load_base_model, load_tokenizer
    from rungwise.finetune.dataset import collate, encode_example
    from rungwise.finetune.train import _answer_loss, _peft_model

    tokenizer = load_tokenizer(cache_dir=hf_cache_dir)
    torch.manual_seed(0)
    model = _peft_model(load_base_model(cache_dir=hf_cache_dir), TINY)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero; make the adapter matter
            torch.nn.init.normal_(p, std=0.02)
    batch = collate([encode_example(tokenizer, r) for r in ROWS[:4]], tokenizer.pad_token_id)
    assert batch.shared_prefix > 8

    def loss_and_grads(b):
        model.zero_grad()
        loss = _answer_loss(torch, model.base_model.model, b, "cpu")
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    shared, grads_shared = loss_and_grads(batch)
    plain, grads_plain = loss_and_grads(dataclasses.replace(batch, shared_prefix=0))
    assert shared == pytest.approx(plain, rel=1e-5)
    assert grads_shared.keys() == grads_plain.keys() and len(grads_plain) == 30 * 7 * 2  # A and B of 7 linear layers in 30 blocks
    scale = max(g.abs().max().item() for g in grads_plain.values())
    assert all((grads_shared[n] - grads_plain[n]).abs().max().item() < 1e-4 * scale for n in grads_plain)


def test_cancelled_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path, hf_cache_dir):
    seen = []
    straight = TrainingJob(ROWS, tmp_path / "straight", TINY, cache_dir=hf_cache_dir, on_progress=seen.append).run()
    assert straight.stop_reason == "completed" and straight.steps == 4
    assert [p.step for p in seen] == [1, 2, 3, 4] and all(p.total_steps == 4 for p in seen)
    assert seen[-1].eta_s == 0 and seen[0].trained_tokens > 0
    assert straight.trained_tokens == seen[-1].trained_tokens
    assert 0 < straight.target_tokens < straight.trained_tokens
    assert straight.examples_used == 8 and straight.val_examples == 0 and straight.val_loss is None
    assert straight.tokens_per_s > 0 and straight.train_loss is not None

    job = TrainingJob(ROWS, tmp_path / "resumed", TINY, cache_dir=hf_cache_dir)
    job.on_progress = lambda p: job.cancel() if p.step == 3 else None
    first = job.run()
    assert first.stop_reason == "cancelled" and first.steps == 3 and job.status == "cancelled"
    assert json.loads((tmp_path / "resumed" / "checkpoint" / "state.json").read_text())["step"] == 3

    again = TrainingJob(ROWS, tmp_path / "resumed", TINY, cache_dir=hf_cache_dir)
    resumed = again.run()
    assert again.status == "done" and resumed.stop_reason == "completed" and resumed.steps == 4
    assert resumed.trained_tokens == straight.trained_tokens
    a, b = adapter_weights(straight), adapter_weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # the weights moved away from peft's initialisation (lora_B starts at zero)
    assert any(k.endswith("lora_B.weight") and a[k].abs().max() > 0 for k in a)

    # a finished run is not trained again: the stored result comes back
    third = TrainingJob(ROWS, tmp_path / "resumed", TINY, cache_dir=hf_cache_dir)
    third.on_progress = lambda p: pytest.fail("a finished run trained again")
    assert third.run() == resumed


def test_other_rows_or_settings_do_not_resume_a_foreign_checkpoint(tmp_path, hf_cache_dir):
    job = TrainingJob(ROWS, tmp_path, TINY.model_copy(update={"max_steps": 1}), cache_dir=hf_cache_dir)
    job.run()
    with pytest.raises(RungwiseError, match="another training run"):
        TrainingJob(ROWS[:-1], tmp_path, TINY.model_copy(update={"max_steps": 1}), cache_dir=hf_cache_dir).run()
    with pytest.raises(RungwiseError, match="another training run"):
        TrainingJob(ROWS, tmp_path, TINY.model_copy(update={"max_steps": 1, "lr": 2e-3}), cache_dir=hf_cache_dir).run()


def test_budget_stops_the_run_and_more_budget_continues_it(tmp_path, hf_cache_dir):
    cfg = TINY.model_copy(update={"max_minutes": 1e-6})
    threads = torch.get_num_threads()
    first = TrainingJob(ROWS, tmp_path, cfg.model_copy(update={"threads": threads + 1}), cache_dir=hf_cache_dir).run()
    assert torch.get_num_threads() == threads  # torch's process-wide setting is restored
    # the budget is checked before every step: it is spent before the second one
    assert first.stop_reason == "budget" and first.steps <= 1
    more = TrainingJob(ROWS, tmp_path, TINY.model_copy(update={"max_minutes": 60}), cache_dir=hf_cache_dir).run()
    assert more.stop_reason == "completed" and more.steps == 4


def test_early_stopping_on_the_validation_split_keeps_the_best_adapter(tmp_path, hf_cache_dir):
    # a learning rate far too high: validation loss gets worse after the first steps
    cfg = LoraConfig(r=4, alpha=8, lr=0.5, batch_size=2, epochs=20, val_fraction=0.25, eval_every=1, patience=2, seed=1)
    result = TrainingJob(ROWS, tmp_path, cfg, cache_dir=hf_cache_dir).run()
    assert result.val_examples == 2 and result.examples_used == 6
    assert result.stop_reason == "early_stopping" and result.steps < result.total_steps
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["best_step"] == result.steps - 2 and state["done"]
    assert result.val_loss == state["best_val_loss"]
