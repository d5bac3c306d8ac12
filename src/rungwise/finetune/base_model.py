"""The base model for fine-tuning, in transformers, made from the embedded GGUF.

transformers reads a GGUF directly but dequantises every tensor on each load (~25 s for SmolLM2-135M).
The first load therefore saves the fp32 model and its tokenizer in Hugging Face format under a cache
folder named after the GGUF's digest; every later load reads that folder (well under a second).
Everything here runs offline: nothing is fetched from a hub.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rungwise.errors import MissingExtra, ModelUnavailable
from rungwise.paths import cache_root, embedded_gguf_path, file_digest

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: written last into a converted folder: a folder without it is an interrupted conversion
_DONE_MARKER = "rungwise-converted.txt"


def offline_transformers() -> Any:
    """Import transformers with the hub switched off; raise `MissingExtra` when it is not installed."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingExtra("torch", "finetune") from None
    try:
        import transformers
    except ImportError:
        raise MissingExtra("transformers", "finetune") from None
    return transformers


def default_cache_dir() -> Path:
    """The Hugging Face copy's folder: `hf` under the cache root (`rungwise.paths.cache_root`)."""
    return cache_root() / "hf"


@dataclass(frozen=True)
class BaseModelSource:
    """Where the base model comes from (a GGUF) and where its Hugging Face copy lives."""

    gguf_path: Path
    hf_dir: Path

    @classmethod
    def resolve(cls, gguf_path: Path | None = None, cache_dir: Path | None = None) -> BaseModelSource:
        gguf = Path(gguf_path) if gguf_path else embedded_gguf_path()
        if not gguf.is_file():
            raise ModelUnavailable(f"No GGUF file at {gguf}.")
        root = Path(cache_dir) if cache_dir else default_cache_dir()
        return cls(gguf_path=gguf, hf_dir=root / file_digest(gguf)[:16])

    @property
    def converted(self) -> bool:
        return (self.hf_dir / _DONE_MARKER).is_file()


def ensure_hf_copy(gguf_path: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Convert the GGUF to a Hugging Face folder once (model and tokenizer); return the folder.

    The conversion writes into a temporary sibling folder and renames it into place, so a crash or a
    concurrent conversion never leaves a half-written folder behind.
    """
    src = BaseModelSource.resolve(gguf_path, cache_dir)
    if src.converted:
        return src.hf_dir
    transformers = offline_transformers()
    src.hf_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=src.hf_dir.parent))
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            src.gguf_path.parent, gguf_file=src.gguf_path.name, local_files_only=True
        )
        model = transformers.AutoModelForCausalLM.from_pretrained(
            src.gguf_path.parent, gguf_file=src.gguf_path.name, local_files_only=True
        )
        # The dequantised weights are plain fp32: drop the GGUF quantizer so the copy loads as a normal model.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE_MARKER).write_text(f"converted from {src.gguf_path.name}\n", encoding="utf-8")
        if src.hf_dir.exists():  # an interrupted conversion, or another process won the race
            if (src.hf_dir / _DONE_MARKER).is_file():
                return src.hf_dir
            shutil.rmtree(src.hf_dir, ignore_errors=True)
        try:
            os.replace(tmp, src.hf_dir)
        except OSError:
            if not src.converted:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return src.hf_dir


def load_tokenizer(gguf_path: Path | None = None, cache_dir: Path | None = None) -> PreTrainedTokenizerBase:
    """The base model's tokenizer (with its chat template), from the Hugging Face copy."""
    hf_dir = ensure_hf_copy(gguf_path, cache_dir)
    transformers = offline_transformers()
    return transformers.AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)


def load_base_model(
    gguf_path: Path | None = None, cache_dir: Path | None = None, *, device: str | None = None
) -> PreTrainedModel:
    """The base model in fp32, from the Hugging Face copy (converted from the GGUF on first use)."""
    hf_dir = ensure_hf_copy(gguf_path, cache_dir)
    transformers = offline_transformers()
    import torch

    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, local_files_only=True, dtype=torch.float32)
    if device:
        model.to(device)
    return model


def load_tuned_model(
    adapter_dir: Path | str, gguf_path: Path | None = None, cache_dir: Path | None = None, *, device: str | None = None
) -> Any:
    """The base model with a trained peft adapter applied (in eval mode), for answers from transformers."""
    offline_transformers()
    try:
        import peft
    except ImportError:
        raise MissingExtra("peft", "finetune") from None
    base = load_base_model(gguf_path, cache_dir, device=device)
    with quiet_peft_warnings():
        model = peft.PeftModel.from_pretrained(base, str(adapter_dir))
    return model.eval()


@contextmanager
def quiet_peft_warnings() -> Iterator[None]:
    """peft asks transformers whether gradient checkpointing is on through a name transformers has
    deprecated (a FutureWarning on every adapter built or loaded); nothing a caller can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
