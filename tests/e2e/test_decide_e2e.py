"""climb --decide on the real embedded model: banking77's kNN few-shot rung and the kNN label, more rows in looks."""

from __future__ import annotations

from pathlib import Path

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.embedded import EmbeddedModel
from rungwise.store import Store

from helpers import small_banking77


def test_decide_scores_more_rows_of_the_lead_and_the_reference(embedded: EmbeddedModel, tmp_path: Path) -> None:
    folder = small_banking77(tmp_path, 40, slice(None, None, 10))  # every intent in the pool
    toml = folder / "task.toml"
    toml.write_text(toml.read_text().replace("sample = 200", "sample = 16")
                    .replace('selection = ["fixed", "knn"]', 'selection = ["knn"]'))
    options = ClimbOptions(rungs=["fewshot"], store_path=tmp_path / "s.db", decide=True)
    result = climb(folder, embedded, options)
    looks = result.to_dict()["decide"]
    assert looks["reference"] == "knn-label" and looks["lead"].startswith("fewshot-knn")
    assert looks["schedule"][0] == 16 and looks["schedule"][-1] == 40
    assert looks["stopped"] in ("resolved", "rows")
    rows = {v.name: v.n for v in result.variants}
    assert rows[looks["lead"]] == looks["rows"][looks["lead"]] >= 16
    assert all(n == 16 for name, n in rows.items() if name not in (looks["lead"], "knn-label"))
    stored = [r for r in Store(tmp_path / "s.db").results(result.run_id) if r.variant == looks["lead"]]
    assert len(stored) == rows[looks["lead"]]
    # one verdict: resolved, or open with the priced next step (never "score more rows" without a number)
    text = result.recommendation
    assert text.count("Ship ") <= 1 and "climb --full" not in text
    if looks["resolved"]:
        assert "too small" not in text and "still open" not in text
    else:
        assert result.decision is not None and result.decision.next_step is not None
        assert "The verdict is still open (the eval file ran out of rows)" in text
