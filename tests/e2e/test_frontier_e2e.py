"""End to end: two real models on loopback in one climb, through the CLI and task.toml's [[models]]: the embedded
model's llama.cpp server with its Q8_0 weights and a second one with the shipped Q4_1 file, each reached as an
OpenAI-compatible endpoint at its own prices, on the same banking77 rows; then the frontier across them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rungwise.cli import app
from rungwise.models.embedded import MODEL_ALIAS, EmbeddedModel, EmbeddedServer, embedded_gguf_path
from rungwise.record.stored import load_report
from rungwise.store import Store

from helpers import small_banking77

PRICES = {"q8": (0.10, 0.40), "q4": (0.60, 2.40)}


def test_two_models_climb_the_same_rows_and_meet_on_one_frontier(embedded: EmbeddedModel, tmp_path: Path) -> None:
    shipped = embedded_gguf_path()
    # the session's server serves the derived Q8_0 weights; the second serves the shipped Q4_1 file as it is
    first, second = (embedded.server, EmbeddedServer(shipped)) if embedded.server.gguf_path != shipped else (
        EmbeddedServer(weights="Q8_0"), embedded.server)
    started = [s for s in (first, second) if s is not embedded.server]
    for s in started:
        s.start()
    try:
        folder = small_banking77(tmp_path, 12, slice(50))
        toml = (folder / "task.toml").read_text().replace("target = 0.85", "target = 0.1")
        toml += "\n[model]\ntimeout_s = 120\n"
        for label, server in (("q8", first), ("q4", second)):
            price_in, price_out = PRICES[label]
            toml += (f"\n[[models]]\nurl = \"{server.base_url}\"\nname = \"{MODEL_ALIAS}\"\nlabel = \"{label}\"\n"
                     f"input_price_per_million = {price_in}\noutput_price_per_million = {price_out}\n")
        (folder / "task.toml").write_text(toml)
        db, page = tmp_path / "s.db", tmp_path / "frontier.html"
        res = CliRunner().invoke(app, ["climb", str(folder), "--rungs", "baseline,prompt", "--all", "--json",
                                       "--store", str(db), "--report", str(page)])
        assert res.exit_code == 0, res.output
        data = json.loads(res.stdout[res.stdout.index("{"):])
    finally:
        for s in started:
            s.stop()
    runs = {m["label"]: m for m in data["models"]}
    assert list(runs) == ["q8", "q4"]
    assert runs["q8"]["model"] != runs["q4"]["model"]  # two weights files, two fingerprints, two runs
    assert runs["q8"]["run_id"] != runs["q4"]["run_id"]
    assert runs["q8"]["n_eval"] == runs["q4"]["n_eval"] == 12
    f = data["frontier"]
    points = f["points"]
    assert {p["model"] for p in points} == {"q8", "q4"}
    assert {p["variant"] for p in points} >= {"baseline", "prompt"}
    # each point priced at its own model's prices
    for p in points:
        price_in, price_out = PRICES[p["model"]]
        expected = (p["prompt_tokens"] * price_in + p["completion_tokens"] * price_out) / 1e6
        assert abs(p["cost_per_call"] - expected) < 1e-12
    # the same eval rows: the paired rows are every row
    assert {p["n"] for p in points} == {12}
    assert [m["model"] for m in f["models"]] == ["q8", "q4"] and all("score" in m for m in f["models"])
    meeting = [p for p in points if p["score"] >= f["target"]]
    if meeting:
        cheapest = min(meeting, key=lambda p: (p["cost_per_call"], -p["score"], p["prompt_tokens"]))
        assert f["recommended"] == f"{cheapest['model']} / {cheapest['variant']}"
        assert f["recommendation"].startswith(f"Ship {cheapest['model']}'s '{cheapest['variant']}'")
    else:
        assert f["recommended"] is None and f["recommendation"].startswith("No model meets the target of 10%")
    # non-dominated points: none of them has another point at least as good and as cheap, one strictly
    for key in f["frontier"]:
        p = next(q for q in points if f"{q['model']} / {q['variant']}" == key)
        assert not any(q["score"] >= p["score"] and q["cost_per_call"] <= p["cost_per_call"]
                       and (q["score"] > p["score"] or q["cost_per_call"] < p["cost_per_call"]) for q in points)
    with Store(db) as store:
        for m in data["models"]:
            assert (load_report(store, m["run_id"]).result.frontier or {})["points"] == points
    html = page.read_text()
    assert "chart-frontier" in html and "Across models: the frontier" in html
