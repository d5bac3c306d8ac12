"""The round trip: a LoRA trained with transformers, exported as a GGUF LoRA, applied by llama.cpp on top of
the Q4_1 base, gives transformers' tuned answers; the base model alone does not.

The task is one the base model never does: answer with the fruit named in the message between '#'s.
A wrong q/k permutation in the export breaks attention in every layer and the answers fall back to
something like the base model's.
"""

from __future__ import annotations

import httpx
import pytest

from rungwise.finetune.dataset import TrainingExample, render_prompt
from rungwise.finetune.export_gguf import export_lora_gguf
from rungwise.finetune.train import LoraConfig, TrainingJob
from rungwise.models.embedded import EmbeddedServer

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("gguf")

SYSTEM = {"role": "system", "content": "Tag the fruit."}
FRUITS = "apple banana cherry grape lemon mango peach plum melon kiwi lime pear".split()
UNSEEN_FRUITS = "orange papaya fig guava olive apricot".split()
TRAIN_TEMPLATES = ["Where does the {} go?", "I have a {} here.", "{} please", "Put away the {}."]


def example(template: str, fruit: str) -> TrainingExample:
    return TrainingExample.of([SYSTEM, {"role": "user", "content": template.format(fruit)}], f"#{fruit}#")


def transformers_answers(model, tokenizer, examples: list[TrainingExample], max_new_tokens: int) -> list[str]:
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    answers = []
    for ex in examples:
        ids = tokenizer(render_prompt(tokenizer, ex.messages), return_tensors="pt", add_special_tokens=True)["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=end, pad_token_id=end)
        answers.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    return answers


def llama_cpp_answers(lora_paths, examples: list[TrainingExample], max_new_tokens: int) -> list[str]:
    answers = []
    with EmbeddedServer(lora_paths=lora_paths, n_ctx=512) as server, httpx.Client(timeout=120) as client:
        for ex in examples:
            body = {"messages": ex.chat(), "temperature": 0, "max_tokens": max_new_tokens}
            resp = client.post(f"{server.base_url}/chat/completions", json=body)
            resp.raise_for_status()
            answers.append(resp.json()["choices"][0]["message"]["content"].strip())
    return answers


def agreement(a: list[str], b: list[str]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


@pytest.mark.slow
def test_gguf_lora_in_llama_cpp_reproduces_the_transformers_fine_tune(tmp_path, hf_cache_dir):
    from rungwise.finetune.base_model import load_tokenizer, load_tuned_model

    rows = [example(t, f) for f in FRUITS for t in TRAIN_TEMPLATES]  # 48 rows
    config = LoraConfig(r=8, alpha=16, lr=2e-3, epochs=4, batch_size=8, val_fraction=0.0, seed=0)
    result = TrainingJob(rows, tmp_path / "run", config, cache_dir=hf_cache_dir).run()
    assert result.stop_reason == "completed" and result.steps == 24 and result.examples_used == 48

    gguf_lora = export_lora_gguf(result.adapter_dir, tmp_path / "adapter.gguf")

    # seen fruits in a seen and an unseen phrasing, and fruits never trained on
    probes = [example(t, f) for f in FRUITS for t in ("Where does the {} go?", "What about this {}?")]
    probes += [example("{} please", f) for f in UNSEEN_FRUITS]
    tokenizer = load_tokenizer(cache_dir=hf_cache_dir)
    tuned = load_tuned_model(result.adapter_dir, cache_dir=hf_cache_dir).merge_and_unload()
    reference = transformers_answers(tuned, tokenizer, probes, max_new_tokens=8)
    with_adapter = llama_cpp_answers([gguf_lora], probes, max_new_tokens=8)
    base = llama_cpp_answers([], probes, max_new_tokens=8)

    learned = sum(r == p.target for r, p in zip(reference, probes)) / len(probes)
    same_with_adapter = agreement(with_adapter, reference)
    same_without = agreement(base, reference)
    print(f"\ntransformers+LoRA correct {learned:.0%}; llama.cpp+GGUF LoRA agrees {same_with_adapter:.0%}; "
          f"base agrees {same_without:.0%} ({len(probes)} probes, {result.train_seconds:.0f} s training)")
    assert learned >= 0.7, reference  # the fine-tune took
    assert same_with_adapter >= 0.8, list(zip(reference, with_adapter))
    assert same_without <= 0.2, list(zip(reference, base))
