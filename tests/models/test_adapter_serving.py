"""Serving a trained adapter on the team's server: vLLM, SGLang and Ollama against a loopback server that speaks
their documented endpoints (tests/models/adapter_server.py; a real vLLM server is in
tests/finetune/test_vllm_server.py, a real llama.cpp server in tests/e2e/test_open_weights_e2e.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rungwise.models.adapter_serving import AdapterServingError, probe_adapters, serve_adapter
from rungwise.models.base import Message, Request
from rungwise.models.openai_http import OpenAIHttpModel

from .adapter_server import AdapterServer

BASE = "team/base-model"


def fake_adapter(folder: Path, rank: int = 16) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank, "lora_alpha": 32}))
    (folder / "adapter_model.safetensors").write_bytes(b"weights of rank %d" % rank)
    return folder


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[AdapterServer]:
    kind, runtime, max_rank = request.param
    s = AdapterServer(kind, base=BASE, runtime=runtime, max_rank=max_rank)
    yield s
    s.close()


def opened(url: str) -> OpenAIHttpModel:
    """The base model, opened (what it is stays known) and its connections closed."""
    model = OpenAIHttpModel(url, BASE, probe=False)

    async def go() -> None:
        try:
            await model.open()
        finally:
            await model.aclose()

    asyncio.run(go())
    return model


def offer(model: OpenAIHttpModel) -> str:
    async def go() -> str:
        try:
            return (await probe_adapters(model)).method
        finally:
            await model.aclose()

    return asyncio.run(go())


def answer(model: object) -> str:
    async def go() -> str:
        assert isinstance(model, OpenAIHttpModel)
        try:
            return (await model.complete(Request((Message("user", "hi"),), max_tokens=4))).text
        finally:
            await model.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("server", [("vllm", True, 16)], indirect=True)
def test_vllm_loads_the_adapter_at_runtime_and_answers_from_it(server: AdapterServer, tmp_path: Path) -> None:
    adapter = fake_adapter(tmp_path / "a1" / "adapter")
    model = opened(server.url)
    assert offer(model) == "vllm-runtime"
    tuned = serve_adapter(model, adapter, name="rungwise-a1", rank=16, server_path=str(adapter))
    assert server.posts("/v1/load_lora_adapter") == [{"lora_name": "rungwise-a1", "lora_path": str(adapter)}]
    assert answer(tuned) == "adapter:rungwise-a1"
    assert tuned.fingerprint.startswith(model.info.fingerprint + "+lora:")
    assert answer(model) == "base"


@pytest.mark.parametrize("server", [("vllm", False, 16)], indirect=True)
def test_vllm_without_runtime_loading_says_how_to_restart(server: AdapterServer, tmp_path: Path) -> None:
    adapter = fake_adapter(tmp_path / "a2" / "adapter", rank=32)
    model = opened(server.url)
    assert offer(model) == "vllm-restart"
    with pytest.raises(AdapterServingError) as e:
        serve_adapter(model, adapter, name="rungwise-a2", rank=32, server_path="/shared/a2/adapter")
    text = str(e.value)
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in text
    assert "--enable-lora --max-lora-rank 32 --lora-modules rungwise-a2=/shared/a2/adapter" in text


@pytest.mark.parametrize("server", [("vllm", True, 8)], indirect=True)
def test_vllm_rank_above_the_servers_limit_names_both(server: AdapterServer, tmp_path: Path) -> None:
    adapter = fake_adapter(tmp_path / "a3" / "adapter", rank=16)
    model = opened(server.url)
    with pytest.raises(AdapterServingError) as e:
        serve_adapter(model, adapter, name="rungwise-a3", rank=16, server_path=str(adapter))
    text = str(e.value)
    assert "trained at rank 16" in text and "--max-lora-rank of at least 16" in text and "[finetune] r" in text


@pytest.mark.parametrize("server", [("sglang", True, 16)], indirect=True)
def test_sglang_loads_and_names_base_colon_adapter(server: AdapterServer, tmp_path: Path) -> None:
    adapter = fake_adapter(tmp_path / "a4" / "adapter")
    model = opened(server.url)
    assert offer(model) == "sglang-runtime"
    tuned = serve_adapter(model, adapter, name="rungwise-a4", rank=16, server_path=str(adapter))
    assert server.posts("/load_lora_adapter") == [{"lora_name": "rungwise-a4", "lora_path": str(adapter)}]
    assert isinstance(tuned, OpenAIHttpModel) and tuned.model_name == f"{BASE}:rungwise-a4"
    assert answer(tuned) == "adapter:rungwise-a4"


@pytest.mark.parametrize("server", [("ollama", True, 16)], indirect=True)
def test_ollama_creates_a_model_from_the_base_with_the_adapter(server: AdapterServer, tmp_path: Path) -> None:
    adapter = fake_adapter(tmp_path / "a5" / "adapter")
    model = opened(server.url)
    assert offer(model) == "ollama"
    tuned = serve_adapter(model, adapter, name="rungwise-a5", rank=16, server_path=str(adapter))
    digests = {f: "sha256:" + hashlib.sha256((adapter / f).read_bytes()).hexdigest()
               for f in ("adapter_config.json", "adapter_model.safetensors")}
    assert set(server.blobs) == set(digests.values())
    [create] = server.posts("/api/create")
    assert create == {"model": "team/base-model-rungwise-a5", "from": BASE, "adapters": digests, "stream": False}
    assert (adapter / "Modelfile").read_text() == f"FROM {BASE}\nADAPTER {adapter}\n"
    assert answer(tuned) == "adapter:team/base-model-rungwise-a5"


def test_llama_cpp_without_the_base_gguf_says_what_to_set(tmp_path: Path) -> None:
    from rungwise.models.base import ModelInfo

    adapter = fake_adapter(tmp_path / "a6" / "adapter")
    model = OpenAIHttpModel("http://127.0.0.1:9/v1", "team-gguf", probe=False)
    model._info = ModelInfo(fingerprint="llama:x", served_model="team-gguf", server_kind="llama.cpp")
    with pytest.raises(AdapterServingError) as e:
        serve_adapter(model, adapter, name="a6", rank=16, server_path=str(adapter))
    assert "[finetune] base_gguf" in str(e.value) and "llama-server -m BASE.gguf --lora ADAPTER.gguf" in str(e.value)


def test_a_server_with_no_known_adapter_loading_is_one_clear_line(tmp_path: Path) -> None:
    from rungwise.models.base import ModelInfo

    adapter = fake_adapter(tmp_path / "a7" / "adapter")
    model = OpenAIHttpModel("http://127.0.0.1:9/v1", "gpt-x", probe=False)
    model._info = ModelInfo(fingerprint="openai:x", served_model="gpt-x", server_kind="openai-compatible")
    with pytest.raises(AdapterServingError, match="no known way to load a LoRA adapter"):
        serve_adapter(model, adapter, name="a7", rank=16, server_path=str(adapter))


@pytest.mark.parametrize("server", [("vllm", True, 16)], indirect=True)
def test_rungwise_models_says_how_the_endpoint_loads_adapters(server: AdapterServer) -> None:
    from typer.testing import CliRunner

    from rungwise.cli import app

    plain = CliRunner().invoke(app, ["models", "--model", server.url, "--model-name", BASE])
    assert plain.exit_code == 0, plain.output
    assert "LoRA adapters: vLLM loads adapters at runtime (POST /v1/load_lora_adapter)" in plain.output
    as_json = CliRunner().invoke(app, ["models", "--model", server.url, "--model-name", BASE, "--json"])
    assert json.loads(as_json.stdout)["adapters"]["method"] == "vllm-runtime"
    # asking changed nothing on the server: GETs only
    assert not server.posts("/v1/load_lora_adapter")


@pytest.mark.parametrize("server", [("ollama", True, 16)], indirect=True)
def test_the_open_weights_tuner_serves_under_a_name_every_server_takes(server: AdapterServer, tmp_path: Path) -> None:
    from rungwise.models.open_weights_tuner import OpenWeightsTuner

    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "config.json").write_text('{"model_type": "llama"}')
    tuner = OpenWeightsTuner(opened(server.url), weights)
    adapter = fake_adapter(tmp_path / "adapters" / "route-finetune@8-trl-0123" / "adapter")
    tuned = tuner.serve(adapter)
    assert server.posts("/api/create")[0]["model"] == f"{BASE}-rungwise-route-finetune-8-trl-0123"
    assert answer(tuned) == f"adapter:{BASE}-rungwise-route-finetune-8-trl-0123"


def test_base_weights_that_are_not_a_model_folder_say_what_to_point_at(tmp_path: Path) -> None:
    from rungwise.errors import RungwiseError
    from rungwise.models.open_weights_tuner import weights_digest

    with pytest.raises(RungwiseError, match="not a Hugging Face model folder.*--base-weights"):
        weights_digest(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"x" * 10)
    first = weights_digest(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"x" * 11)  # other weights: another digest
    assert weights_digest(tmp_path) != first
