"""The finetune rung inside a climb: train a LoRA with the short prompt, serve it through llama.cpp, score it,
and record the adapter (config, data hash, base fingerprint) and fine-tuning's whole bill."""

from __future__ import annotations

from pathlib import Path

import pytest

from rungwise.engine.compare import compare_runs, model_change
from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.embedded import EmbeddedModel, embedded_gguf_path, file_digest
from rungwise.rungs.finetune import is_stale
from rungwise.store import Store

from helpers import write_task

pytest.importorskip("torch")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow

FRUITS = "apple banana cherry grape lemon mango peach plum melon kiwi lime pear".split()
TOML = f"""
name = "fruit"
instruction = "Which fruit?"
target = 0.99
[output]
type = "label"
labels = {FRUITS!r}
[checks]
near_duplicates = false
[finetune]
max_examples = 48
epochs = 4
r = 8
alpha = 16
lr = 2e-3
batch_size = 8
max_minutes = 5
""".replace("'", '"')
TRAIN = [{"input": t.format(f), "target": f} for f in FRUITS
         for t in ("Where does the {} go?", "I have a {} here.", "{} please", "Put away the {}.")]
EVAL = [{"input": f"What about this {f}?", "target": f} for f in FRUITS[:8]]


def test_finetune_rung_in_a_climb(embedded: EmbeddedModel, tmp_path: Path, tuning_cache: Path) -> None:
    cache = tuning_cache
    folder = write_task(tmp_path / "fruit", TOML, TRAIN, EVAL)
    db = tmp_path / "s.db"
    result = climb(folder, embedded, ClimbOptions(rungs=["baseline", "finetune"], all_rungs=True, store_path=db,
                                                  cache_dir=cache))
    by = {v.name: v for v in result.variants}
    base, tuned = by["baseline"], by["finetune"]
    # the short prompt is the baseline's: same tokens per call, but the weights learned the answer format
    assert abs(tuned.mean_prompt_tokens - base.mean_prompt_tokens) < 2
    assert tuned.format_failures < base.format_failures
    assert tuned.score > base.score
    # the same adapter with the output constrained to the labels: no format failure left, one artifact for both
    assert by["finetune-constrained"].format_failures == 0
    artifacts = Store(db).artifacts(result.run_id)
    assert [a["name"] for a in artifacts] == ["finetune"]
    meta = artifacts[0]["meta"]
    assert Path(artifacts[0]["path"]).is_file() and meta["examples"] > 0 and meta["train_seconds"] > 0
    current = f"embedded:{file_digest(embedded.server.gguf_path)[:16]}"  # the weights that serve the adapter
    assert meta["base_model"] == current and not is_stale(meta, current) and is_stale(meta, "embedded:another")
    assert len(meta["data_hash"]) == 16
    ft_cost = result.extra["finetune_costs"]["finetune"]
    assert ft_cost["reference"] == "baseline" and ft_cost["total_per_month"] >= ft_cost["calls_per_month"]
    constrained_cost = result.extra["finetune_costs"]["finetune-constrained"]  # priced with the shared adapter
    assert (constrained_cost["dataset"], constrained_cost["training"]) == (ft_cost["dataset"], ft_cost["training"])
    # a second climb reuses the trained adapter and the cache: no training, no model call
    again = climb(folder, embedded, ClimbOptions(rungs=["baseline", "finetune"], all_rungs=True, store_path=db,
                                                 cache_dir=cache, resume=False))
    assert again.stats.calls == 0 and {v.name: v.score for v in again.variants} == {v.name: v.score for v in result.variants}

    # the base model changes (the shipped weights served as they are: another fingerprint, other answers): a
    # climb on it, then compare, shows the change rung by rung and the first run's adapter as stale
    other = EmbeddedModel(gguf_path=embedded_gguf_path())
    assert other.fingerprint != embedded.fingerprint
    moved = climb(folder, other, ClimbOptions(rungs=["baseline"], store_path=db, cache_dir=cache, resume=False))
    change = model_change(Store(db), result.run_id, moved.run_id)
    assert change.changed and change.stale_adapters == {"a:finetune": current}
    assert {d.variant for d in compare_runs(Store(db), result.run_id, moved.run_id)} == {"baseline"}
