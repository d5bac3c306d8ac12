"""The fine-tune rung against a real vLLM server (vLLM's CPU backend, started by the test): the LoRA trained with
TRL on the served model's Hugging Face folder, loaded at runtime (`POST /v1/load_lora_adapter`) and scored; the
`finetune` variant's answers are the adapter's, checked against transformers + peft on the same rows."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.adapter_serving import probe_adapters
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.rungs.finetune import short_messages
from rungwise.store import Store
from rungwise.task.spec import Task

from .vllm_server import VllmServer

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("trl")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NAME = "team-smollm2"


@pytest.fixture(scope="module")
def weights(hf_cache_dir: Path) -> Path:
    return next(p for p in hf_cache_dir.iterdir() if (p / "config.json").is_file())


@pytest.fixture(scope="module")
def vllm(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    server = VllmServer(weights, NAME, tmp_path_factory.mktemp("vllm") / "server.log")
    yield server
    server.stop()


def banking77(tmp_path: Path) -> Path:
    folder = tmp_path / "banking77"
    shutil.copytree(ROOT / "examples" / "banking77", folder)
    toml = (folder / "task.toml").read_text(encoding="utf-8")
    toml = toml.replace("sample = 200", "sample = 12").replace("leakage = \"drop\"", "leakage = \"drop\"\nnear_duplicates = false").replace("max_examples = 1100", """max_examples = 16
epochs = 2
lr = 3e-3
batch_size = 8
with_rag = false
""")
    (folder / "task.toml").write_text(toml, encoding="utf-8")
    return folder


def peft_answers(weights: Path, adapter: Path, messages: list[list[dict[str, str]]], max_new_tokens: int,
                 stop: list[str]) -> list[str]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rungwise.finetune.base_model import quiet_peft_warnings

    tokenizer = AutoTokenizer.from_pretrained(weights, local_files_only=True)
    with quiet_peft_warnings():
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32),
                                          str(adapter)).eval()
    answers = []
    for chat in messages:
        ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
        text = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        for s in stop:
            text = text.split(s)[0] if s else text
        answers.append(text.strip())
    return answers


def test_vllm_serves_the_trl_adapter_at_runtime(vllm: VllmServer, weights: Path, tmp_path: Path) -> None:
    model = OpenAIHttpModel(vllm.url, NAME)

    async def offer() -> str:
        try:
            return (await probe_adapters(model)).method
        finally:
            await model.aclose()

    assert asyncio.run(offer()) == "vllm-runtime"
    folder = banking77(tmp_path)
    db = tmp_path / "s.db"
    result = climb(folder, OpenAIHttpModel(vllm.url, NAME),
                   ClimbOptions(rungs=["baseline", "finetune"], variants=["baseline", "finetune"], all_rungs=True,
                                store_path=db, base_weights=weights))  # the constrained twin: the llama.cpp e2e
    by = {o.summary.name: o for o in result.outcomes}
    assert "finetune" in by, result.skipped
    assert result.model_info is not None and result.model_info.server_kind == "vllm"
    with Store(db) as store:
        [artifact] = store.artifacts(result.run_id)
    adapter = Path(artifact["path"])
    assert artifact["kind"] == "lora-peft" and artifact["meta"]["trainer"] == "trl"
    # the adapter is a model of its own on the server now
    assert by["finetune"].rows[0].served_model == f"rungwise-{adapter.parent.name}"

    task = Task.load(folder)
    inputs = {ex.id: ex for ex in task.eval}
    rows = by["finetune"].rows[:4]
    chats = [[{"role": m.role, "content": m.content} for m in short_messages(task, inputs[r.example_id].input)]
             for r in rows]
    expected = peft_answers(weights, adapter, chats, int(result.budget["max_tokens"]), list(result.budget["stop"]))
    assert [r.output.strip() for r in rows] == expected
    # and they are not the base model's answers to the same prompt (the baseline): the adapter changed them
    base = {r.example_id: r.output.strip() for r in by["baseline"].rows}
    assert any(base[r.example_id] != r.output.strip() for r in rows)
