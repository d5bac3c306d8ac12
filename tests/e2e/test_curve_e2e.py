"""The fine-tune's learning curve with the real tuner, at tiny sizes (8, 16 and the pool's rows, one epoch): each
size a real adapter on the same seeded rows, served by llama.cpp and scored on the same eval rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from rungwise.engine.job import ClimbOptions, climb
from rungwise.models.embedded import EmbeddedModel
from rungwise.store import Store

from e2e.test_finetune_rung import EVAL, TOML, TRAIN
from helpers import write_task

pytest.importorskip("torch")
pytest.importorskip("peft")
pytestmark = pytest.mark.slow

TINY = TOML.replace("epochs = 4", "epochs = 1").replace("max_examples = 48", "max_examples = 24") + "curve = [8, 16]\n"


def test_finetune_curve_with_the_real_tuner(embedded: EmbeddedModel, tmp_path: Path, tuning_cache: Path) -> None:
    folder = write_task(tmp_path / "fruit", TINY, TRAIN, EVAL)
    db = tmp_path / "s.db"
    result = climb(folder, embedded, ClimbOptions(rungs=["finetune"], store_path=db, cache_dir=tuning_cache))
    with Store(db) as store:
        meta = {a["name"]: a["meta"] for a in store.artifacts(result.run_id)}
    assert {n: m["examples"] for n, m in meta.items()} == {"finetune": 22, "finetune@8": 8, "finetune@16": 16}
    # three adapters, one data set: the same rows hashed, the sizes differ only in the rows the trainer takes
    assert len({m["data_hash"] for m in meta.values()}) == 1 and len({m["config"]["max_examples"] for m in meta.values()}) == 3
    [curve] = result.curves
    assert curve["sizes"] == [8, 16, 22] and curve["kind"] == "training"
    assert len(curve["scores"]) == 3 and all(0 <= s <= 1 for s in curve["scores"])
    assert curve["check"]["fitted_on"] == [8, 16]
    assert result.to_dict()["curves"][0]["sentence"] == curve["sentence"]
