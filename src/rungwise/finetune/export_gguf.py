"""A peft LoRA adapter as a GGUF LoRA file that llama.cpp applies on top of the (quantised) base GGUF.

This follows llama.cpp's `convert_lora_to_gguf.py`:
- metadata `general.architecture` (the base's), `general.type = "adapter"`, `adapter.type = "lora"`,
  `adapter.lora.alpha` (llama.cpp scales the update by alpha / rank, as peft does);
- one pair of tensors per adapted weight, named after the base tensor: `blk.0.attn_q.weight.lora_a`
  (peft's lora_A, rank x in) and `blk.0.attn_q.weight.lora_b` (peft's lora_B, out x rank);
- for llama-architecture models the converter permutes the rows of q_proj and k_proj (rotary embedding
  layout: interleaved pairs instead of two halves). The base GGUF holds the permuted weights, so the
  adapter's update B @ A must be permuted the same way, which means permuting the rows of lora_b.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from rungwise.errors import MissingExtra, RungwiseError
from rungwise.paths import embedded_gguf_path

#: architectures whose converter permutes q/k rows (convert_hf_to_gguf.py's LlamaModel.permute)
PERMUTED_ARCHES = {"llama"}
_PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")


def permute_qk_rows(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """llama.cpp's `LlamaModel.permute`: reorder the rows (dim 0) of a q or k projection (or a lora_b)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _base_hparams(gguf_path: Path) -> dict[str, Any]:
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))

    def field(key: str) -> Any:
        f = reader.get_field(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not arch:
        raise RungwiseError(f"{gguf_path}: no general.architecture in the GGUF metadata.")
    return {
        "arch": str(arch),
        "n_layer": int(field(f"{arch}.block_count")),
        "n_head": int(field(f"{arch}.attention.head_count")),
        "n_head_kv": int(field(f"{arch}.attention.head_count_kv") or field(f"{arch}.attention.head_count")),
    }


def export_lora_gguf(
    adapter_dir: Path | str,
    out_path: Path | str,
    *,
    gguf_path: Path | None = None,
    dtype: str = "f32",
) -> Path:
    """Write the peft adapter in `adapter_dir` as a GGUF LoRA for the base model `gguf_path` (default: the
    embedded model); returns `out_path`. `dtype` is "f32" or "f16"."""
    try:
        import gguf
        import numpy as np
        from safetensors.numpy import load_file
    except ImportError:
        raise MissingExtra("gguf", "finetune") from None
    if dtype not in ("f32", "f16"):
        raise ValueError(f"dtype must be 'f32' or 'f16', not {dtype!r}")
    adapter_dir = Path(adapter_dir)
    out_path = Path(out_path)
    base = Path(gguf_path) if gguf_path else embedded_gguf_path()
    cfg_path = adapter_dir / "adapter_config.json"
    weights_path = adapter_dir / "adapter_model.safetensors"
    if not cfg_path.is_file() or not weights_path.is_file():
        raise RungwiseError(f"{adapter_dir} is not a peft adapter (adapter_config.json and adapter_model.safetensors).")
    lcfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if lcfg.get("peft_type", "LORA") != "LORA" or lcfg.get("use_dora"):
        raise RungwiseError(f"{cfg_path}: only plain LoRA adapters can be exported to GGUF.")
    r = int(lcfg["r"])
    alpha = float(lcfg["lora_alpha"])
    if lcfg.get("use_rslora"):
        alpha *= math.sqrt(r)  # rsLoRA scales by alpha/sqrt(r); llama.cpp by alpha/r

    hp = _base_hparams(base)
    arch_enum = next((a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == hp["arch"]), None)
    if arch_enum is None:
        raise RungwiseError(f"{base}: architecture {hp['arch']!r} is unknown to the gguf package.")
    names = gguf.get_tensor_name_map(arch_enum, hp["n_layer"])

    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in load_file(str(weights_path)).items():
        m = _PEFT_KEY.match(key)
        if m is None:
            raise RungwiseError(f"{weights_path}: unexpected tensor {key!r} (only LoRA A/B weights are supported).")
        pairs.setdefault(m["module"], {})[m["ab"]] = tensor

    out_dtype = np.float32 if dtype == "f32" else np.float16
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, hp["arch"])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise RungwiseError(f"{weights_path}: {module} lacks its lora_A or lora_B weight.")
        target = names.get_name(module)
        if target is None:
            raise RungwiseError(f"{weights_path}: no GGUF tensor matches the adapted module {module!r}.")
        lora_a = ab["A"].astype(np.float32)  # (r, in)
        lora_b = ab["B"].astype(np.float32)  # (out, r)
        if hp["arch"] in PERMUTED_ARCHES:
            if module.endswith("q_proj"):
                lora_b = permute_qk_rows(lora_b, hp["n_head"], hp["n_head"])
            elif module.endswith("k_proj"):
                lora_b = permute_qk_rows(lora_b, hp["n_head"], hp["n_head_kv"])
        writer.add_tensor(f"{target}.weight.lora_a", np.ascontiguousarray(lora_a.astype(out_dtype)))
        writer.add_tensor(f"{target}.weight.lora_b", np.ascontiguousarray(lora_b.astype(out_dtype)))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out_path)
    return out_path
