"""The round trip: a LoRA trained with transformers, exported as a GGUF LoRA and applied by llama.cpp on top
of the base GGUF, gives transformers' tuned answers; the base model alone does not.

The task is one the base model never does: answer with the fruit named in the message between '#'s.

Greedy answers on the Q4_1 base are robust: they also survive an export that forgets llama.cpp's q/k row
permutation (this adapter's answers do not hinge on its q/k updates). So a second test serves the adapter on
an exact, unquantised copy of the base and compares log-probabilities with transformers': there the
permuted export matches to ~0.01 nats and the unpermuted one (the negative control) misses by ~1 nat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rungwise.finetune import export_gguf
from rungwise.finetune.dataset import TrainingExample, render_prompt
from rungwise.finetune.train import LoraConfig, TrainingJob, TrainingResult
from rungwise.models.embedded import EmbeddedServer, embedded_gguf_path

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

pytestmark = pytest.mark.slow

SYSTEM = {"role": "system", "content": "Tag the fruit."}
FRUITS = "apple banana cherry grape lemon mango peach plum melon kiwi lime pear".split()
UNSEEN_FRUITS = "orange papaya fig guava olive apricot".split()
TRAIN_TEMPLATES = ["Where does the {} go?", "I have a {} here.", "{} please", "Put away the {}."]


def example(template: str, fruit: str) -> TrainingExample:
    return TrainingExample.of([SYSTEM, {"role": "user", "content": template.format(fruit)}], f"#{fruit}#")


# seen fruits in a seen and an unseen phrasing, and fruits never trained on
PROBES = [example(t, f) for f in FRUITS for t in ("Where does the {} go?", "What about this {}?")]
PROBES += [example("{} please", f) for f in UNSEEN_FRUITS]


@dataclass
class Trained:
    result: TrainingResult
    gguf_lora: Path
    tokenizer: object
    tuned: object  # the transformers model with the adapter merged in


@pytest.fixture(scope="module")
def trained(tmp_path_factory, hf_cache_dir) -> Trained:
    from rungwise.finetune.base_model import load_tokenizer, load_tuned_model

    out = tmp_path_factory.mktemp("roundtrip")
    rows = [example(t, f) for f in FRUITS for t in TRAIN_TEMPLATES]  # 48 rows
    config = LoraConfig(r=8, alpha=16, lr=2e-3, epochs=4, batch_size=8, val_fraction=0.0, seed=0)
    result = TrainingJob(rows, out / "run", config, cache_dir=hf_cache_dir).run()
    assert result.stop_reason == "completed" and result.steps == 24 and result.examples_used == 48
    gguf_lora = export_gguf.export_lora_gguf(result.adapter_dir, out / "adapter.gguf")
    tokenizer = load_tokenizer(cache_dir=hf_cache_dir)
    tuned = load_tuned_model(result.adapter_dir, cache_dir=hf_cache_dir).merge_and_unload()
    return Trained(result, gguf_lora, tokenizer, tuned)


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


def test_gguf_lora_on_the_served_base_gives_the_transformers_answers(trained):
    reference = transformers_answers(trained.tuned, trained.tokenizer, PROBES, max_new_tokens=8)
    with_adapter = llama_cpp_answers([trained.gguf_lora], PROBES, max_new_tokens=8)
    base = llama_cpp_answers([], PROBES, max_new_tokens=8)

    learned = sum(r == p.target for r, p in zip(reference, PROBES)) / len(PROBES)
    same_with_adapter = agreement(with_adapter, reference)
    same_without = agreement(base, reference)
    print(f"\ntransformers+LoRA correct {learned:.0%}; llama.cpp+GGUF LoRA agrees {same_with_adapter:.0%}; "
          f"base agrees {same_without:.0%} ({len(PROBES)} probes, {trained.result.train_seconds:.0f} s training)")
    assert learned >= 0.7, reference  # the fine-tune took
    assert same_with_adapter >= 0.8, list(zip(reference, with_adapter))
    assert same_without <= 0.2, list(zip(reference, base))


def write_f32_copy(src: Path, dst: Path) -> Path:
    """The GGUF with every tensor dequantised to f32: llama.cpp then holds the very weights transformers
    loaded from it (in llama.cpp's layout), so their outputs differ only by float rounding."""
    reader = gguf.GGUFReader(str(src))
    writer = gguf.GGUFWriter(str(dst), reader.get_field("general.architecture").contents())
    for f in reader.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.architecture", "general.file_type"):
            continue
        vtype = f.types[0]
        writer.add_key_value(f.name, f.contents(), vtype, sub_type=f.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    for t in reader.tensors:
        data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        writer.add_tensor(t.name, data.reshape([int(x) for x in reversed(t.shape)]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


def top_logprob_gap(trained: Trained, base_gguf: Path, lora: Path, prompts: list[str]) -> tuple[float, float]:
    """Mean and max |llama.cpp - transformers| over the top-5 log-probabilities of 4 greedy tokens per prompt."""
    gaps = []
    with EmbeddedServer(base_gguf, lora_paths=[lora], n_ctx=512) as server, httpx.Client(timeout=120) as client:
        root = server.base_url.removesuffix("/v1")
        for prompt in prompts:
            body = {"prompt": prompt, "n_predict": 4, "temperature": 0, "n_probs": 5, "return_tokens": True}
            steps = client.post(f"{root}/completion", json=body).json()["completion_probabilities"]
            ids = trained.tokenizer(prompt, add_special_tokens=True)["input_ids"]
            full = torch.tensor([ids + [s["id"] for s in steps]])
            with torch.no_grad():
                logprobs = torch.log_softmax(trained.tuned(full).logits[0].float(), dim=-1)
            for i, s in enumerate(steps):
                for top in s["top_logprobs"]:
                    gaps.append(abs(top["logprob"] - logprobs[len(ids) - 1 + i, top["id"]].item()))
    return sum(gaps) / len(gaps), max(gaps)


def test_gguf_lora_on_an_exact_base_matches_transformers_logprobs(trained, tmp_path, monkeypatch):
    exact_base = write_f32_copy(embedded_gguf_path(), tmp_path / "base-f32.gguf")
    unpermuted = tmp_path / "unpermuted.gguf"
    with monkeypatch.context() as m:
        m.setattr(export_gguf, "PERMUTED_ARCHES", set())
        export_gguf.export_lora_gguf(trained.result.adapter_dir, unpermuted)
    prompts = [render_prompt(trained.tokenizer, p.messages) for p in PROBES[::2]]
    try:
        mean_ok, max_ok = top_logprob_gap(trained, exact_base, trained.gguf_lora, prompts)
        mean_bad, max_bad = top_logprob_gap(trained, exact_base, unpermuted, prompts)
    finally:
        exact_base.unlink()  # 540 MB
    print(f"\n|logprob gap| to transformers, permuted export: mean {mean_ok:.4f} max {max_ok:.4f}; "
          f"without the q/k permutation: mean {mean_bad:.4f} max {max_bad:.4f}")
    assert mean_ok < 0.02 and max_ok < 0.1
    assert mean_bad > 0.1  # the check can tell a wrong layout apart
