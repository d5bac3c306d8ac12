"""A trained LoRA adapter served where the team serves its model, so the fine-tune is measured there.

    offer = await probe_adapters(model)          # what the endpoint offers (`rungwise models` prints it)
    tuned = serve_adapter(model, adapter, ...)   # a Model whose answers come from base + adapter

Per server:
- **vLLM**: `POST /v1/load_lora_adapter` (the server runs with `--enable-lora` and
  `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`); the adapter is then a model name of its own. Without runtime loading,
  or with a `--max-lora-rank` below the trained rank, the error gives the exact line to restart with.
- **SGLang**: `POST /load_lora_adapter`; requests name the model `base:adapter`.
- **llama.cpp**: the adapter converted to a GGUF LoRA; a running server that already loaded that file
  (`--lora FILE --lora-init-without-apply`) applies it per request (`lora: [{id, scale}]`); otherwise rungwise
  starts a llama.cpp server of its own on the base GGUF (`[finetune] base_gguf`) with `--lora`.
- **Ollama**: the adapter's files uploaded as blobs and a model created `FROM` the base with the `ADAPTER`
  (`POST /api/create`); a Modelfile saying the same is written next to the adapter.

The adapter's path must be one the server can read: the same path (the server on this machine, or a shared
mount at the same place), or the path `[finetune] server_adapters_dir` names for rungwise's adapters folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rungwise.errors import RungwiseError
from rungwise.models.base import Model
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.paths import file_digest
from rungwise.textsafe import safe_text

#: how long one load or create request may take (vLLM reads the adapter from disk; Ollama builds a model)
LOAD_TIMEOUT_S = 300.0


class AdapterServingError(RungwiseError):
    """The server cannot serve the adapter as it runs; the message says what to change."""


@dataclass(frozen=True)
class AdapterOffer:
    """How an endpoint serves LoRA adapters: `method` (vllm-runtime, vllm-restart, sglang-runtime, llama.cpp,
    ollama, or none) and one line for a person."""

    method: str
    detail: str


async def probe_adapters(model: OpenAIHttpModel) -> AdapterOffer:
    """Ask the endpoint (opened) how it serves adapters, with GETs that change nothing: a load route that exists
    answers 405 to a GET, one that does not 404."""
    info = await model.open()
    kind, root = info.server_kind, model.base_url.removesuffix("/v1")
    async with httpx.AsyncClient(timeout=model.deadlines.attempt_s, headers=_headers(model)) as client:
        async def status(url: str) -> int | None:
            try:
                return (await client.get(url)).status_code
            except httpx.HTTPError:
                return None

        if kind == "vllm":
            if await status(f"{root}/v1/load_lora_adapter") in (405, 422, 400):
                return AdapterOffer("vllm-runtime", "vLLM loads adapters at runtime (POST /v1/load_lora_adapter)")
            return AdapterOffer("vllm-restart", "vLLM without runtime loading: restart it with --enable-lora "
                                "--lora-modules NAME=PATH (or VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)")
        if kind == "sglang":
            if await status(f"{root}/load_lora_adapter") in (405, 422, 400):
                return AdapterOffer("sglang-runtime", "SGLang loads adapters at runtime (POST /load_lora_adapter)")
            return AdapterOffer("none", "SGLang without LoRA: restart it with --enable-lora --lora-paths NAME=PATH")
        if kind == "llama.cpp":
            try:
                loaded = (await client.get(f"{root}/lora-adapters")).json()
            except (httpx.HTTPError, ValueError):
                loaded = None
            n = len(loaded) if isinstance(loaded, list) else 0
            return AdapterOffer("llama.cpp", f"llama.cpp: GGUF LoRA per request ({n} loaded at start), or a server "
                                "rungwise starts on the base GGUF with --lora")
        if kind == "ollama":
            return AdapterOffer("ollama", "Ollama: a model created FROM the base with the ADAPTER (POST /api/create)")
    return AdapterOffer("none", "no adapter loading known for this server: serve the adapter yourself and climb "
                        "it as a model of its own")


def serve_adapter(model: OpenAIHttpModel, adapter_dir: Path, *, name: str, rank: int, server_path: str,
                  base_gguf: Path | None = None) -> Model:
    """The base `model` (opened) with the peft adapter in `adapter_dir` applied, on the model's own server.
    `server_path`: the adapter folder as the server sees it; `name`: the adapter's name there."""
    kind = model.info.server_kind
    root = model.base_url.removesuffix("/v1")
    fingerprint = f"{model.info.fingerprint}+lora:{_adapter_digest(adapter_dir)}"
    if kind == "vllm":
        _load(model, f"{root}/v1/load_lora_adapter", {"lora_name": name, "lora_path": server_path},
              restart=f"vllm serve BASE --enable-lora --max-lora-rank {_rank_at_least(rank)} "
                      f"--lora-modules {name}={server_path}", rank=rank)
        return model.same_endpoint(name, fingerprint)
    if kind == "sglang":
        _load(model, f"{root}/load_lora_adapter", {"lora_name": name, "lora_path": server_path},
              restart=f"python -m sglang.launch_server --model-path BASE --enable-lora --max-lora-rank "
                      f"{_rank_at_least(rank)} --lora-paths {name}={server_path}", rank=rank)
        return model.same_endpoint(f"{model.model_name}:{name}", fingerprint)
    if kind == "llama.cpp":
        return _llama_cpp(model, adapter_dir, name=name, base_gguf=base_gguf, fingerprint=fingerprint)
    if kind == "ollama":
        return _ollama(model, adapter_dir, name=name, fingerprint=fingerprint)
    raise AdapterServingError(
        f"{model.base_url} ({kind}) has no known way to load a LoRA adapter; rungwise trained it at {adapter_dir}. "
        "Serve it (vLLM, SGLang, llama.cpp or Ollama) and climb it as a model of its own.")


def _headers(model: OpenAIHttpModel) -> dict[str, str]:
    return model._headers()


def _rank_at_least(rank: int) -> int:
    """The smallest of vLLM's allowed --max-lora-rank values that holds `rank`."""
    return next((r for r in (8, 16, 32, 64, 128, 256, 320, 512) if r >= rank), rank)


def _adapter_digest(adapter_dir: Path) -> str:
    weights = adapter_dir / "adapter_model.safetensors"
    return file_digest(weights)[:16] if weights.is_file() else hashlib.sha256(str(adapter_dir).encode()).hexdigest()[:16]




def _load(model: OpenAIHttpModel, url: str, body: dict[str, Any], *, restart: str, rank: int) -> None:
    """POST a runtime load; an adapter already loaded under that name is fine; anything else is one line."""
    try:
        resp = httpx.post(url, json=body, headers=_headers(model), timeout=LOAD_TIMEOUT_S)
    except httpx.HTTPError as e:
        raise AdapterServingError(f"Could not reach {url} to load the adapter ({type(e).__name__}).") from None
    if resp.status_code < 300:
        return
    text = _line(resp.text)[:300]
    if "already" in text.lower() and "load" in text.lower():
        return
    if resp.status_code in (404, 405):
        raise AdapterServingError(
            f"{model.base_url} does not load adapters at runtime (HTTP {resp.status_code} from {url}). Start it "
            f"with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True (vLLM), or restart it with the adapter: {restart}")
    if "rank" in text.lower():
        raise AdapterServingError(
            f"{model.base_url} refused the adapter, trained at rank {rank}: {text}. Restart the server with a "
            f"--max-lora-rank of at least {_rank_at_least(rank)} ({restart}), or set [finetune] r to the "
            "server's limit.")
    raise AdapterServingError(f"{model.base_url} refused to load the adapter (HTTP {resp.status_code}): {text}. "
                              f"It can be served with: {restart}")


def _llama_cpp(model: OpenAIHttpModel, adapter_dir: Path, *, name: str, base_gguf: Path | None,
               fingerprint: str) -> Model:
    from rungwise.finetune.export_gguf import export_lora_gguf

    if base_gguf is None:
        raise AdapterServingError(
            f"{model.base_url} is a llama.cpp server: the adapter must be converted to a GGUF LoRA against the "
            "base model's GGUF. Set [finetune] base_gguf to that file (rungwise then starts a llama.cpp server on "
            "it with the adapter), or serve it yourself: llama-server -m BASE.gguf --lora ADAPTER.gguf")
    gguf = adapter_dir.parent / f"{name}.gguf"
    if not gguf.is_file():
        export_lora_gguf(adapter_dir, gguf, gguf_path=base_gguf)
    loaded = _llama_cpp_loaded(model)
    ids = [a.get("id") for a in loaded]
    mine = next((a.get("id") for a in loaded if Path(str(a.get("path", ""))).name == gguf.name), None)
    if mine is not None:  # the running server loaded this very file at start: apply it per request
        lora = [{"id": i, "scale": 1.0 if i == mine else 0.0} for i in ids if isinstance(i, int)]
        served = model.same_endpoint(model.model_name, fingerprint)
        served.extra_body = {"lora": lora}
        return served
    from rungwise.models.embedded import EmbeddedModel

    return EmbeddedModel(lora_paths=[gguf], gguf_path=base_gguf, alias=model.model_name)


def _llama_cpp_loaded(model: OpenAIHttpModel) -> list[dict[str, Any]]:
    try:
        data = httpx.get(f"{model.base_url.removesuffix('/v1')}/lora-adapters", headers=_headers(model),
                         timeout=model.deadlines.attempt_s).json()
    except (httpx.HTTPError, ValueError):
        return []
    return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []


def _ollama(model: OpenAIHttpModel, adapter_dir: Path, *, name: str, fingerprint: str) -> Model:
    """Upload the adapter's files as blobs, create `base-name` FROM the base with them as its ADAPTER."""
    root = model.base_url.removesuffix("/v1")
    files: dict[str, str] = {}
    for fname in ("adapter_config.json", "adapter_model.safetensors"):
        path = adapter_dir / fname
        digest = f"sha256:{file_digest(path)}"
        try:
            with path.open("rb") as f:
                resp = httpx.post(f"{root}/api/blobs/{digest}", content=f, headers=_headers(model),
                                  timeout=LOAD_TIMEOUT_S)
        except httpx.HTTPError as e:
            raise AdapterServingError(f"Could not upload the adapter to {root} ({type(e).__name__}).") from None
        if resp.status_code >= 300:
            raise AdapterServingError(f"{root} refused the adapter's {fname} (HTTP {resp.status_code}): "
                                      f"{_line(resp.text)[:200]}")
        files[fname] = digest
    created = f"{model.model_name.split(':')[0]}-{name}"
    (adapter_dir / "Modelfile").write_text(f"FROM {model.model_name}\nADAPTER {adapter_dir}\n", encoding="utf-8")
    try:
        resp = httpx.post(f"{root}/api/create", json={"model": created, "from": model.model_name, "adapters": files,
                                                      "stream": False},
                          headers=_headers(model), timeout=LOAD_TIMEOUT_S)
    except httpx.HTTPError as e:
        raise AdapterServingError(f"Could not create the tuned model on {root} ({type(e).__name__}).") from None
    if resp.status_code >= 300:
        raise AdapterServingError(f"{root} could not create {created} FROM {model.model_name} with the adapter "
                                  f"(HTTP {resp.status_code}): {_line(resp.text)[:200]}. The Modelfile is at "
                                  f"{adapter_dir / 'Modelfile'}: ollama create {created} -f that file.")
    return model.same_endpoint(created, fingerprint)


def _line(text: str) -> str:
    """A server's error body as one line a terminal can print (it is the server's text: untrusted)."""
    return " ".join(safe_text(text).split())


__all__ = ["AdapterOffer", "AdapterServingError", "probe_adapters", "serve_adapter"]
