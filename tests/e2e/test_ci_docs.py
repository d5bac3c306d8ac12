"""docs/ci.md's commands, as written there (the task folder and the run id filled in), against the embedded model:
the climb, a promoted baseline, the gate on an unchanged task (underpowered at a 2-point margin on 40 rows), its
JUnit file and report, and the gate after a changed prompt that costs accuracy on the real model."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from helpers import ROOT, write_task

POSITIVE = ["I love this phone, it is wonderful", "Great service, very happy", "Excellent quality, highly recommend",
            "This is the best purchase I ever made", "Fantastic, works perfectly", "Amazing food and friendly staff",
            "I am delighted with the result", "Superb, five stars", "Really enjoyed it, thank you",
            "Brilliant product, love it", "Wonderful experience from start to finish", "Very good value, I am pleased",
            "The staff were kind and helpful", "Perfect fit, looks beautiful", "Happy customer, will buy again",
            "It works great and arrived early", "Lovely hotel with a great view",
            "Outstanding support, problem solved fast", "Beautiful design and easy to use",
            "Absolutely love the new update"]
NEGATIVE = ["I hate this phone, it is terrible", "Awful service, very angry", "Poor quality, do not buy",
            "This is the worst purchase I ever made", "Horrible, it broke after a day", "Disgusting food and rude staff",
            "I am disappointed with the result", "Terrible, one star", "Really bad, waste of money",
            "Useless product, hate it", "Dreadful experience from start to finish", "Very bad value, I am upset",
            "The staff were rude and unhelpful", "Wrong size, looks cheap", "Unhappy customer, never again",
            "It does not work and arrived late", "Dirty hotel with a noisy room", "Slow support, problem never solved",
            "Ugly design and hard to use", "I really dislike the new update"]
TRAIN = [{"input": "Nice and useful", "target": "positive"}, {"input": "Bad and broken", "target": "negative"}]
# on SmolLM2-135M this odd instruction scores 67.5% constrained, the plain one 37.5%: changing it is a regression
GOOD = "Reply with the word negative if the text contains the letter e, else reply positive."
PLAIN = "Is this review positive or negative?"
TOML = """name = "reviews"
instruction = "{instruction}"
target = 0.95
[output]
type = "label"
labels = ["positive", "negative"]
[checks]
near_duplicates = false
[eval]
sample = 40
seed = 0
"""


def _commands() -> list[str]:
    text = (ROOT / "docs" / "ci.md").read_text()
    section = text.split("## The commands", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def _run(line: str, folder: Path, run_id: str | None, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    args = [folder.as_posix() if a == "my-task" else (run_id or a) if a == "RUN" else a for a in shlex.split(line)]
    assert args[0] == "rungwise", line
    return subprocess.run([sys.executable, "-m", "rungwise", *args[1:]], capture_output=True, text=True, timeout=900,
                          env=env, cwd=cwd)


@pytest.mark.slow
def test_the_ci_commands_as_documented(tmp_path: Path) -> None:
    rows = [{"input": t, "target": "positive"} for t in POSITIVE] + [{"input": t, "target": "negative"} for t in NEGATIVE]
    folder = write_task(tmp_path / "reviews", TOML.format(instruction=GOOD), TRAIN, rows)
    env = {**os.environ, "RUNGWISE_STORE": str(tmp_path / "store.db"), "RUNGWISE_CACHE_DIR": str(tmp_path / "cache"),
           "COLUMNS": "200"}
    once, every = _commands()[:3], _commands()[3:]
    assert [c.split()[1] for c in once] == ["climb", "baseline", "baseline"] and len(every) == 2

    climbed = _run(once[0], folder, None, env, tmp_path)
    assert climbed.returncode == 0, climbed.stderr
    run_id = re.findall(r"run (\d{8}-\d{6}-[0-9a-f]{6}):", climbed.stdout + climbed.stderr)[0]
    for line in once[1:]:
        proc = _run(line, folder, run_id, env, tmp_path)
        assert proc.returncode == 0 and run_id in proc.stdout, proc.stderr

    # unchanged: every answer comes from the cache, nothing moves, and 40 rows cannot rule out 2 points
    gated = _run(every[0], folder, run_id, env, tmp_path)
    assert gated.returncode == 1, gated.stdout + gated.stderr
    assert "UNDERPOWERED" in gated.stdout and "REGRESSED" not in gated.stdout
    assert "gate failed" in gated.stderr and "underpowered" in gated.stderr
    suite = ElementTree.parse(tmp_path / "gate.xml").getroot()
    assert int(suite.get("tests") or 0) >= 2 and suite.get("failures") == suite.get("tests")
    assert (tmp_path / "report.html").stat().st_size > 10_000
    as_json = _run(every[1], folder, run_id, env, tmp_path)
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and not data["passed"] and data["baseline_run"] == run_id
    assert {v["status"] for v in data["variants"]} == {"underpowered"}
    assert all(v["difference"] == 0 for v in data["variants"])
    allowed = _run(every[1] + " --allow-underpowered", folder, run_id, env, tmp_path)
    assert allowed.returncode == 0 and "gate passed" in allowed.stderr

    # the prompt changed back to the plain instruction: the constrained prompt variant loses 30 points
    write_task(folder, TOML.format(instruction=PLAIN), TRAIN, rows)
    changed = _run(every[1], folder, run_id, env, tmp_path)
    assert changed.returncode == 1
    verdicts = {v["variant"]: v for v in json.loads(changed.stdout)["variants"]}
    worse = verdicts["prompt-constrained"]
    assert worse["status"] == "regressed" and worse["difference"] < -0.15 and worse["p_value"] < 0.01
    print(f"\n[gate, changed prompt] {json.dumps({k: (v['status'], round(v['difference'], 3)) for k, v in verdicts.items()})}")
