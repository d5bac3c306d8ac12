"""Every capability profile against the real llama.cpp server (the embedded model): a grammar, a JSON schema only
(`response_format`, the label set as an enum the answer is read back from), and nothing at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.embedded import EmbeddedModel

from helpers import small_banking77, write_task


def _profiled(embedded: EmbeddedModel, profile: str) -> EmbeddedModel:
    """The session's server, reached through a model forced to `profile`."""
    return EmbeddedModel(server=embedded.server, capabilities=profile)


@pytest.mark.parametrize("profile", ["grammar", "json_schema", "none"])
def test_each_profile_constrains_labels_on_the_real_server(embedded: EmbeddedModel, tmp_path: Path,
                                                           profile: str) -> None:
    folder = small_banking77(tmp_path, 6, slice(50))
    labels = set(json.loads((folder / "labels.json").read_text()))
    result = climb(folder, _profiled(embedded, profile), ClimbOptions(rungs=["prompt"], store_path=tmp_path / "s.db"))
    by_name = {o.summary.name: o for o in result.outcomes}
    if profile == "none":
        assert list(by_name) == ["prompt"]
        assert "takes no constraint on its output" in result.skipped["constrained variants"]
        return
    twin = by_name["prompt-constrained"]
    assert twin.summary.format_failures == 0
    assert all(r.output in labels for r in twin.rows), [r.output for r in twin.rows]  # the label itself, unwrapped
    assert twin.variant.config["method"] == ("llama.cpp" if profile == "grammar" else "response_format")
    assert all(r.served_model for r in twin.rows if r.extras.get("derived") != 1.0)


JSON_TOML = """
name = "team"
instruction = "Which team should answer? Reply with a JSON object with the key team."
target = 0.8
[output]
type = "json"
schema = { type = "object", properties = { team = { type = "string", enum = ["billing", "technical", "sales"] } }, required = ["team"] }
[metric]
name = "json_f1"
[checks]
near_duplicates = false
"""


def test_a_json_schema_alone_gives_valid_json_on_the_real_server(embedded: EmbeddedModel, tmp_path: Path) -> None:
    rows = [{"input": text, "target": json.dumps({"team": team})} for text, team in
            [("I was charged twice", "billing"), ("The app crashes", "technical"), ("Discount for 50 seats?", "sales")]]
    folder = write_task(tmp_path / "team", JSON_TOML, rows, rows[:2] + [{"input": "Refund please",
                                                                           "target": '{"team": "billing"}'}])
    result = climb(folder, _profiled(embedded, "json_schema"),
                   ClimbOptions(rungs=["prompt"], store_path=tmp_path / "s.db", leakage="warn"))
    twin = next(o for o in result.outcomes if o.summary.name == "prompt-constrained")
    answers = [json.loads(r.output) for r in twin.rows]
    assert all(a["team"] in ("billing", "technical", "sales") for a in answers), answers
    assert twin.summary.format_failures == 0
