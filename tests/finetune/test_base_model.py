import json
import subprocess
import sys

import pytest

from rungwise.errors import ModelUnavailable
from rungwise.finetune.base_model import (
    BaseModelSource,
    default_cache_dir,
    ensure_hf_copy,
)


def test_importing_the_package_loads_no_heavy_dependency():
    code = "import sys, rungwise.finetune; print([m for m in ('torch', 'transformers', 'peft', 'gguf') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("RUNGWISE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rungwise" / "hf"
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / "own"))
    assert default_cache_dir() == tmp_path / "own" / "hf"


def test_a_missing_gguf_is_reported(tmp_path):
    with pytest.raises(ModelUnavailable, match="No GGUF file"):
        BaseModelSource.resolve(tmp_path / "none.gguf", tmp_path)


def test_the_converted_copy_is_a_plain_model_and_is_converted_once(hf_cache_dir):
    src = BaseModelSource.resolve(cache_dir=hf_cache_dir)
    assert src.converted and src.hf_dir.parent == hf_cache_dir
    config = json.loads((src.hf_dir / "config.json").read_text())
    assert "quantization_config" not in config  # loads as plain fp32, not through the GGUF quantizer
    assert config["model_type"] == "llama" and config["num_key_value_heads"] == 3
    for name in ("model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (src.hf_dir / name).is_file()
    before = (src.hf_dir / "model.safetensors").stat().st_mtime_ns
    assert ensure_hf_copy(cache_dir=hf_cache_dir) == src.hf_dir
    assert (src.hf_dir / "model.safetensors").stat().st_mtime_ns == before
    assert not [p for p in hf_cache_dir.iterdir() if p.name.startswith(".converting-")]


def test_the_copy_loads_as_fp32_without_a_quantizer(hf_cache_dir):
    torch = pytest.importorskip("torch")
    from rungwise.finetune.base_model import load_base_model

    model = load_base_model(cache_dir=hf_cache_dir)
    assert model.dtype == torch.float32
    assert getattr(model, "hf_quantizer", None) is None
    assert model.config.num_hidden_layers == 30
