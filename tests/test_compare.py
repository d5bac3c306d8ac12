from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rungwise.engine.compare import compare_runs
from rungwise.engine.job import ClimbOptions, climb
from rungwise.errors import StoreError
from rungwise.models.base import Request
from rungwise.models.fake import FakeModel
from rungwise.store import Store

from helpers import LABEL_TOML, write_task


def _task(tmp_path: Path) -> Path:
    rows = [{"input": f"question {i}", "target": "billing"} for i in range(40)]
    toml = LABEL_TOML + "[checks]\nnear_duplicates = false\n"
    return write_task(tmp_path / "t", toml, [{"input": "x", "target": "billing"}], rows)


def test_compare_finds_a_regression(tmp_path: Path) -> None:
    folder = _task(tmp_path)
    db = tmp_path / "s.db"
    good = climb(folder, FakeModel(lambda r: "billing", name="v1"), ClimbOptions(rungs=["prompt"], store_path=db))

    def worse(r: Request) -> str:
        n = int(r.messages[-1].content.split()[-1])
        return "sales" if n % 2 else "billing"  # half the rows now fail

    bad = climb(folder, FakeModel(worse, name="v2"), ClimbOptions(rungs=["prompt"], store_path=db))
    diffs = {d.variant: d for d in compare_runs(Store(db), good.run_id, bad.run_id)}
    assert diffs["prompt"].regressed and diffs["prompt"].difference == pytest.approx(-0.5)
    same = climb(folder, FakeModel(lambda r: "billing", name="v3"), ClimbOptions(rungs=["prompt"], store_path=db))
    d = {x.variant: x for x in compare_runs(Store(db), good.run_id, same.run_id)}["prompt"]
    assert not d.regressed and not d.improved and d.difference == 0
    with pytest.raises(StoreError, match="No run"):
        compare_runs(Store(db), good.run_id, "nope")


def test_gate_cli_passes_and_compare_cli_prints(tmp_path: Path) -> None:
    folder = _task(tmp_path)
    db = tmp_path / "s.db"
    base = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db))
    # the fake model named by the CLI echoes the input, so the gate's new run scores what the baseline run did
    proc = subprocess.run([sys.executable, "-m", "rungwise", "gate", str(folder), "--baseline", base.run_id,
                           "--model", "fake", "--store", str(db)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate passed" in proc.stdout
    runs = Store(db).list_runs()
    proc = subprocess.run([sys.executable, "-m", "rungwise", "compare", base.run_id, runs[0].id, "--store", str(db)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "no measurable change" in proc.stdout


def test_compare_says_what_moved_when_the_model_changed(tmp_path: Path) -> None:
    folder = _task(tmp_path)
    db = tmp_path / "s.db"
    old = climb(folder, FakeModel(lambda r: "billing", name="old"), ClimbOptions(rungs=["prompt"], store_path=db))

    def new_answers(r: Request) -> str:
        return "sales" if int(r.messages[-1].content.split()[-1]) < 4 else "billing"  # 4 rows flip to wrong

    new = climb(folder, FakeModel(new_answers, name="new"), ClimbOptions(rungs=["prompt"], store_path=db))
    with Store(db) as s:
        s.add_artifact(new.run_id, "finetune", "lora", "adapter.gguf", {"base_model": "embedded:0123456789abcdef"})
    d = {x.variant: x for x in compare_runs(Store(db), old.run_id, new.run_id)}["prompt"]
    assert (d.worse_rows, d.better_rows) == (4, 0)
    proc = subprocess.run([sys.executable, "-m", "rungwise", "compare", old.run_id, new.run_id, "--store", str(db)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "the model changed" in proc.stdout and "adapter finetune of run b is stale" in proc.stdout
    assert "4/0" in proc.stdout
    data = json.loads(subprocess.run(
        [sys.executable, "-m", "rungwise", "compare", old.run_id, new.run_id, "--store", str(db), "--json"],
        capture_output=True, text=True, timeout=120).stdout)
    assert data["model"]["changed"] and data["model"]["stale_adapters"] == {"b:finetune": "embedded:0123456789abcdef"}
    assert data["variants"][0]["worse_rows"] == 4
