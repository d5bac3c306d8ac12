"""The GGUF LoRA layout llama.cpp expects; the end-to-end proof is in test_roundtrip.py."""

import json
import math

import numpy as np
import pytest

from rungwise.errors import RungwiseError
from rungwise.finetune.export_gguf import export_lora_gguf, permute_qk_rows

gguf = pytest.importorskip("gguf")
safetensors_numpy = pytest.importorskip("safetensors.numpy")


def test_permutation_interleaves_the_two_halves_of_each_head():
    n_head, d = 3, 4  # rows per head: 2 * d
    w = np.arange(n_head * 2 * d * 5, dtype=np.float32).reshape(n_head * 2 * d, 5)
    p = permute_qk_rows(w, n_head)
    for h in range(n_head):
        for i in range(d):
            assert (p[h * 2 * d + 2 * i] == w[h * 2 * d + i]).all()  # first half -> even rows
            assert (p[h * 2 * d + 2 * i + 1] == w[h * 2 * d + d + i]).all()  # second half -> odd rows
    # with grouped-query attention k uses the number of kv heads
    assert (permute_qk_rows(w, 9, n_head) == p).all()


def test_permutation_undoes_what_transformers_does_when_reading_a_gguf():
    transformers_gguf = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    processor = transformers_gguf.TENSOR_PROCESSORS["llama"]()
    w = np.random.default_rng(0).normal(size=(192, 7)).astype(np.float32)
    back = processor._reverse_permute_weights(permute_qk_rows(w, 9, 3), 9, 3)
    assert np.array_equal(back, w)


def _fake_adapter(folder, *, r=2, alpha=4.0, extra_config=None):
    rng = np.random.default_rng(0)
    tensors = {}
    shapes = {"self_attn.q_proj": (576, 576), "self_attn.k_proj": (576, 192), "mlp.down_proj": (1536, 576)}
    for module, (fan_in, fan_out) in shapes.items():
        key = f"base_model.model.model.layers.1.{module}"
        tensors[f"{key}.lora_A.weight"] = rng.normal(size=(r, fan_in)).astype(np.float32)
        tensors[f"{key}.lora_B.weight"] = rng.normal(size=(fan_out, r)).astype(np.float32)
    folder.mkdir()
    safetensors_numpy.save_file(tensors, str(folder / "adapter_model.safetensors"))
    cfg = {"peft_type": "LORA", "r": r, "lora_alpha": alpha, **(extra_config or {})}
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    return tensors


def _read(path):
    reader = gguf.GGUFReader(str(path))
    meta = {k: reader.get_field(k).contents() for k in ("general.architecture", "general.type", "adapter.type", "adapter.lora.alpha")}
    tensors = {t.name: t for t in reader.tensors}
    return meta, tensors


def test_export_writes_llama_cpp_lora_metadata_names_and_shapes(tmp_path):
    src = _fake_adapter(tmp_path / "adapter")
    out = export_lora_gguf(tmp_path / "adapter", tmp_path / "lora.gguf")
    meta, tensors = _read(out)
    assert meta == {"general.architecture": "llama", "general.type": "adapter", "adapter.type": "lora", "adapter.lora.alpha": 4.0}
    assert set(tensors) == {
        f"blk.1.{n}.weight.lora_{ab}" for n in ("attn_q", "attn_k", "ffn_down") for ab in ("a", "b")
    }
    # GGUF lists dimensions innermost first: lora_a is (in, r) and lora_b (r, out) to llama.cpp
    assert list(tensors["blk.1.attn_k.weight.lora_a"].shape) == [576, 2]
    assert list(tensors["blk.1.attn_k.weight.lora_b"].shape) == [2, 192]
    assert list(tensors["blk.1.ffn_down.weight.lora_a"].shape) == [1536, 2]

    def data(name):
        t = tensors[name]
        return np.asarray(t.data).reshape(list(reversed([int(x) for x in t.shape])))

    key = "base_model.model.model.layers.1"
    # A is never permuted; B's rows are for q (9 heads) and k (3 kv heads) only
    assert np.array_equal(data("blk.1.attn_q.weight.lora_a"), src[f"{key}.self_attn.q_proj.lora_A.weight"])
    assert np.array_equal(data("blk.1.attn_q.weight.lora_b"), permute_qk_rows(src[f"{key}.self_attn.q_proj.lora_B.weight"], 9, 9))
    assert np.array_equal(data("blk.1.attn_k.weight.lora_b"), permute_qk_rows(src[f"{key}.self_attn.k_proj.lora_B.weight"], 9, 3))
    assert not np.array_equal(data("blk.1.attn_k.weight.lora_b"), src[f"{key}.self_attn.k_proj.lora_B.weight"])
    assert np.array_equal(data("blk.1.ffn_down.weight.lora_b"), src[f"{key}.mlp.down_proj.lora_B.weight"])


def test_export_f16_and_rslora_alpha(tmp_path):
    _fake_adapter(tmp_path / "adapter", r=4, alpha=8.0, extra_config={"use_rslora": True})
    meta, tensors = _read(export_lora_gguf(tmp_path / "adapter", tmp_path / "lora.gguf", dtype="f16"))
    # llama.cpp scales by alpha / r; rsLoRA by alpha / sqrt(r)
    assert meta["adapter.lora.alpha"] == pytest.approx(8.0 * math.sqrt(4))
    assert tensors["blk.1.attn_q.weight.lora_a"].tensor_type == gguf.GGMLQuantizationType.F16


def test_export_refuses_what_it_cannot_convert(tmp_path):
    with pytest.raises(RungwiseError, match="not a peft adapter"):
        export_lora_gguf(tmp_path, tmp_path / "x.gguf")
    _fake_adapter(tmp_path / "dora", extra_config={"use_dora": True})
    with pytest.raises(RungwiseError, match="plain LoRA"):
        export_lora_gguf(tmp_path / "dora", tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()
