"""End to end on the real embedded model (SmolLM2-135M through llama.cpp on loopback)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.errors import MissingApiKey, ModelUnavailable
from rungwise.models.base import Message, Request
from rungwise.models.embedded import MODEL_ALIAS, EmbeddedModel
from rungwise.models.openai_http import OpenAIHttpModel
from rungwise.store import Store

from helpers import small_banking77, write_task

ROOT = Path(__file__).resolve().parents[2]


def _small_banking(tmp_path: Path, n: int = 4) -> Path:
    return small_banking77(tmp_path, n, slice(50))


def test_embedded_climb_records_every_result(embedded: EmbeddedModel, tmp_path: Path) -> None:
    folder = _small_banking(tmp_path)
    store_path = tmp_path / "s.db"
    options = ClimbOptions(all_rungs=True, rungs=["baseline", "prompt"], store_path=store_path)
    result = climb(folder, embedded, options)
    assert [v.name for v in result.variants] == ["baseline", "prompt", "prompt-constrained"]
    base, prompt, constrained = result.variants
    # the grammar leaves no format failure
    assert constrained.format_failures == 0
    # the structured prompt lists 77 labels: far more prompt tokens than the vague instruction
    assert prompt.mean_prompt_tokens > 400 > base.mean_prompt_tokens > 10
    # the label budget caps generation (longest label + 4) and stops at a newline
    labels = json.loads((folder / "labels.json").read_text())
    longest = max(asyncio.run(_count_all(embedded, labels)))
    assert result.budget["stop"] == ["\n"] and result.budget["max_tokens"] == longest + 4
    assert max(base.mean_completion_tokens, prompt.mean_completion_tokens) <= result.budget["max_tokens"]
    assert base.latency_p50_s > 0 and prompt.latency_p50_s > 0
    assert base.format_failures + base.content_failures == round(base.n * (1 - base.score))
    store = Store(store_path)
    rows = store.results(result.run_id)
    assert len(rows) == 12 and all(r.prompt_tokens > 0 for r in rows)
    assert store.get_run(result.run_id).status == "done"
    # a second climb answers from the cache: no model call
    again = climb(folder, embedded, ClimbOptions(all_rungs=True, rungs=["baseline", "prompt"], store_path=store_path,
                                                 resume=False))
    assert again.stats.calls == 0 and again.stats.cache_hits == 12
    assert [v.score for v in again.variants] == [v.score for v in result.variants]
    store.close()


def test_prompt_prefix_is_reused_by_llama_cpp(embedded: EmbeddedModel) -> None:
    system = "Answer with one word.\n" + "\n".join(f"label_{i}" for i in range(80))

    async def two() -> list[int]:
        out = []
        for q in ("first question", "second question"):
            c = await embedded.complete(Request((Message("system", system), Message("user", q)), max_tokens=2))
            out.append(c.cached_tokens)
        await embedded.aclose()
        return out

    cached = asyncio.run(two())
    assert cached[1] > 200  # the shared system prompt came from the KV cache


def test_openai_backend_against_the_same_server(embedded: EmbeddedModel) -> None:
    url = embedded.server.base_url
    assert url is not None
    model = OpenAIHttpModel(url, MODEL_ALIAS)

    async def go() -> tuple[str, int | None, str]:
        c = await model.complete(Request((Message("user", "Say hello."),), max_tokens=8))
        n = await model.count_tokens("card_payment_wrong_exchange_rate")
        await model.aclose()
        return c.text, n, model.fingerprint

    text, n, fp = asyncio.run(go())
    assert text.strip() and n is not None and 3 <= n <= 16
    assert model.is_llama_cpp and fp.startswith(f"openai:{MODEL_ALIAS}:")
    # the same request through the embedded model gives the same greedy answer
    same = asyncio.run(_once(embedded, Request((Message("user", "Say hello."),), max_tokens=8)))
    assert same == text


async def _count_all(model: EmbeddedModel, texts: list[str]) -> list[int]:
    counts = [await model.count_tokens(t) or 0 for t in texts]
    await model.aclose()
    return counts


async def _once(model: EmbeddedModel, request: Request) -> str:
    c = await model.complete(request)
    await model.aclose()
    return c.text


def test_constrained_output_through_grammar(embedded: EmbeddedModel) -> None:
    req = Request((Message("user", "Pick one."),), max_tokens=8, grammar='root ::= "alpha" | "beta"')
    assert asyncio.run(_once(embedded, req)) in {"alpha", "beta"}


def test_unreachable_endpoint_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RW_TEST_KEY", raising=False)
    with pytest.raises(MissingApiKey, match="RW_TEST_KEY"):
        OpenAIHttpModel("http://127.0.0.1:9/v1", "m", api_key_env="RW_TEST_KEY")
    model = OpenAIHttpModel("http://127.0.0.1:9/v1", "m")
    with pytest.raises(ModelUnavailable, match="Cannot reach"):
        asyncio.run(model.complete(Request((Message("user", "x"),))))


def test_cli_climb_on_the_embedded_model(tmp_path: Path) -> None:
    folder = _small_banking(tmp_path, n=3)
    proc = subprocess.run(
        [sys.executable, "-m", "rungwise", "climb", str(folder), "--json", "--rungs", "prompt", "--store", str(tmp_path / "c.db")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["variants"][0]["name"] == "prompt" and data["n_eval"] == 3
    assert data["variants"][0]["mean_prompt_tokens"] > 400


def test_server_answers_health(embedded: EmbeddedModel) -> None:
    url = embedded.server.base_url
    assert url is not None
    assert httpx.get(url.removesuffix("/v1") + "/health", timeout=10).status_code == 200


INTENTS = {
    "AddToPlaylist": ["put this song on my road trip playlist", "add Bohemian Rhapsody to my favourites list"],
    "BookRestaurant": ["reserve a table at an Italian place tonight", "book a restaurant for six people on Friday"],
    "GetWeather": ["will it rain in Lisbon tomorrow", "what is the forecast for this weekend"],
    "SearchScreeningEvent": ["when is the new Dune film showing nearby", "find cinema times for tonight"],
    "RateBook": ["give this novel four out of five stars", "rate The Hobbit six points"],
    "play some music": ["play something by Miles Davis", "I want to hear jazz"],
    "cancel my order": ["I no longer want the shoes I bought", "stop the delivery of my parcel"],
}


def test_camelcase_and_multiword_labels_leave_no_format_failure_under_a_grammar(
        embedded: EmbeddedModel, tmp_path: Path) -> None:
    """A grammar may steer the model into spelling a label in more, smaller tokens than its canonical
    tokenization: the constrained budget must cover that, so no answer is cut short (`AddToWishl`)."""
    labels = list(INTENTS)
    toml = ('name = "intents"\ninstruction = "Which intent?"\ntarget = 0.99\n[output]\ntype = "label"\n'
            f"labels = {json.dumps(labels)}\n[checks]\nnear_duplicates = false\n")
    rows = [{"input": text, "target": label} for label, texts in INTENTS.items() for text in texts]
    folder = write_task(tmp_path / "intents", toml, [{"input": "hello there", "target": "GetWeather"}], rows)
    result = climb(folder, embedded, ClimbOptions(all_rungs=True, rungs=["baseline", "prompt"],
                                                  store_path=tmp_path / "s.db"))
    by_name = {v.name: v for v in result.variants}
    constrained = by_name["prompt-constrained"]
    assert constrained.n == len(rows) and constrained.format_failures == 0
    # the model really ran under the grammar (not every row was derived from an unconstrained answer that fitted)
    assert result.stats.derived < len(rows)
    assert by_name["baseline"].format_failures > 0  # unconstrained, the small model wanders off the label set
    answers = [r.output for r in Store(tmp_path / "s.db").results(result.run_id) if r.variant == "prompt-constrained"]
    assert set(answers) <= set(labels), answers


def test_derived_constrained_answers_equal_real_constrained_calls(
        embedded: EmbeddedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The constrained twin is called only where the unconstrained answer does not already fit: greedy decoding
    under the grammar would return a fitting answer unchanged. Checked on real banking77 rows: the same climb with
    the derivation switched off makes every constrained call, and its answers equal the derived ones."""
    from rungwise.engine.runner import Runner

    folder = small_banking77(tmp_path, 16, slice(1000))  # the kNN few-shot rung: most of its answers fit
    toml = folder / "task.toml"
    toml.write_text(toml.read_text().replace('selection = ["fixed", "knn"]', 'selection = ["knn"]'))
    options = {"rungs": ["fewshot"], "all_rungs": True}
    derived_run = climb(folder, embedded, ClimbOptions(**options, store_path=tmp_path / "derived.db"))
    derived = {r.example_id: r.output for r in Store(tmp_path / "derived.db").results(derived_run.run_id)
               if r.variant == "fewshot-knn-constrained" and r.extras.get("derived") == 1.0}
    assert len(derived) >= 5, "too few fitting answers on these rows to check anything"

    real_run_of = Runner.run

    async def without_twins(self, variant, examples, model, twin_rows=None, **kw):  # type: ignore[no-untyped-def]
        return await real_run_of(self, variant, examples, model, None, **kw)

    monkeypatch.setattr(Runner, "run", without_twins)
    called = climb(folder, embedded, ClimbOptions(**options, store_path=tmp_path / "called.db"))
    assert called.stats.derived == 0
    real = {r.example_id: r.output for r in Store(tmp_path / "called.db").results(called.run_id)
            if r.variant == "fewshot-knn-constrained"}
    assert {i: real[i] for i in derived} == derived
