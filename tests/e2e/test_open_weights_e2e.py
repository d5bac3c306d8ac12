"""The fine-tune rung on a team's own model, end to end: banking77 climbed against a llama.cpp server the test
starts on a GGUF (a URL, not the embedded path), the LoRA trained with TRL on the model's Hugging Face folder
(`--base-weights`) under `accelerate launch` (`--accelerate-config`), converted to a GGUF LoRA and served by a
llama.cpp server rungwise starts on the same GGUF with `--lora` (`[finetune] base_gguf`), scored, and shipped with
fine-tuning's whole bill."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rungwise.cli import app
from rungwise.models.embedded import EmbeddedServer
from rungwise.paths import embedded_gguf_path
from rungwise.store import Store

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("trl")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVED_AS = "team-smollm2"


@pytest.fixture
def team_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The team's llama.cpp server: its own copy of the GGUF, served under the team's name."""
    gguf = tmp_path / "team-model.gguf"
    shutil.copyfile(embedded_gguf_path(), gguf)
    server = EmbeddedServer(gguf, alias=SERVED_AS)
    url = server.start()
    yield url, gguf
    server.stop()


def banking77(tmp_path: Path, gguf: Path) -> Path:
    folder = tmp_path / "banking77"
    shutil.copytree(ROOT / "examples" / "banking77", folder)
    toml = (folder / "task.toml").read_text(encoding="utf-8")
    toml = toml.replace("sample = 200", "sample = 12").replace("leakage = \"drop\"", "leakage = \"drop\"\nnear_duplicates = false").replace("max_examples = 1100", f"""max_examples = 24
batch_size = 8
with_rag = false
base_gguf = "{gguf}"
""")
    (folder / "task.toml").write_text(toml, encoding="utf-8")
    return folder


def test_climb_on_a_llama_cpp_server_trains_with_trl_and_serves_the_adapter(
        team_server: tuple[str, Path], tmp_path: Path, hf_cache_dir: Path) -> None:
    url, gguf = team_server
    weights = next(p for p in hf_cache_dir.iterdir() if (p / "config.json").is_file())
    folder = banking77(tmp_path, gguf)
    db = tmp_path / "s.db"
    # trained under the real `accelerate launch`, with a config file as a user writes one (one CPU process here;
    # the same launch takes a multi-GPU, DeepSpeed or FSDP config)
    config = tmp_path / "accelerate.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_machines: 1\n"
                      "num_processes: 1\nmixed_precision: 'no'\nuse_cpu: true\n")
    res = CliRunner().invoke(app, ["climb", str(folder), "--model", url, "--model-name", SERVED_AS,
                                   "--base-weights", str(weights), "--accelerate-config", str(config),
                                   "--rungs", "baseline,finetune", "--all", "--store", str(db), "--json"])
    assert res.exit_code in (0, 1), res.output  # 1: no rung met the target (a verdict, not an error)
    record = json.loads(res.stdout)
    result = record["result"] if "result" in record else record
    names = {v["name"] for v in result["variants"]}
    assert {"baseline", "finetune", "finetune-constrained"} <= names, result.get("skipped")
    # trained with TRL on the team's weights, recorded against the model the climb ran on
    with Store(db) as store:
        [artifact] = store.artifacts(result["run_id"])
    meta = artifact["meta"]
    assert artifact["kind"] == "lora-peft" and meta["trainer"] == "trl" and meta["launcher"] == "accelerate"
    assert meta["processes"] == 1 and meta["device"] == "cpu"
    assert meta["examples"] > 0 and meta["steps"] > 0 and meta["train_seconds"] > 0 and meta["trained_tokens"] > 0
    assert (Path(artifact["path"]) / "adapter_model.safetensors").is_file()
    assert meta["base_model"] == result["model"]
    # served through llama.cpp with the adapter: its answers were given by base + LoRA (its own fingerprint)
    gguf_lora = Path(artifact["path"]).parent / f"rungwise-{Path(artifact['path']).parent.name}.gguf"
    assert gguf_lora.is_file()
    # a verdict, and fine-tuning's whole bill (the training priced at the task's price per hour)
    assert result["recommendation"]
    bill = result["finetune_costs"]["finetune"]
    assert bill["training"] > 0 and bill["total_per_month"] >= bill["calls_per_month"]


def test_a_running_llama_cpp_server_that_loaded_the_adapter_applies_it_per_request(
        team_server: tuple[str, Path], tmp_path: Path, hf_cache_dir: Path) -> None:
    """The team started llama.cpp with the adapter (`--lora FILE`): rungwise finds it in /lora-adapters and sends
    its scale in each request's `lora` field, every other adapter at 0 (no second server)."""
    import asyncio

    import httpx
    import peft
    import torch
    import transformers

    from rungwise.finetune.base_model import quiet_peft_warnings
    from rungwise.finetune.export_gguf import export_lora_gguf
    from rungwise.models.adapter_serving import serve_adapter
    from rungwise.models.base import Message, Request
    from rungwise.models.openai_http import OpenAIHttpModel

    _, gguf = team_server
    weights = next(p for p in hf_cache_dir.iterdir() if (p / "config.json").is_file())
    torch.manual_seed(0)
    base = transformers.AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    with quiet_peft_warnings():
        lora = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"],
                                                         init_lora_weights=False))  # random: answers change
    adapter = tmp_path / "run" / "adapter"
    lora.save_pretrained(adapter)
    file = export_lora_gguf(adapter, tmp_path / "run" / "rungwise-run.gguf", gguf_path=gguf)
    server = EmbeddedServer(gguf, lora_paths=[file], alias=SERVED_AS)
    url = server.start()
    try:
        def ask(lora_field: list[dict[str, float]]) -> str:
            body = {"model": SERVED_AS, "messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 12,
                    "temperature": 0, "lora": lora_field}
            return str(httpx.post(f"{url}/chat/completions", json=body, timeout=120).json()
                       ["choices"][0]["message"]["content"])

        with_adapter, without = ask([{"id": 0, "scale": 1.0}]), ask([{"id": 0, "scale": 0.0}])
        assert with_adapter != without

        async def tuned_answer() -> tuple[str, dict[str, object]]:
            model = OpenAIHttpModel(url, SERVED_AS, probe=False)
            await model.open()
            tuned = serve_adapter(model, adapter, name="rungwise-run", rank=4, server_path=str(adapter),
                                  base_gguf=gguf)
            assert isinstance(tuned, OpenAIHttpModel)
            try:
                request = Request((Message("user", "Name a fruit."),), max_tokens=12)
                await tuned.open()
                return (await tuned.complete(request)).text, tuned._body(request)
            finally:
                await tuned.aclose()
                await model.aclose()

        text, body = asyncio.run(tuned_answer())
        assert body["lora"] == [{"id": 0, "scale": 1.0}] and text == with_adapter
    finally:
        server.stop()
