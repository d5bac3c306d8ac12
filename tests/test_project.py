"""The project's promises about itself: the public surface, the README's commands, self-containment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import rungwise

ROOT = Path(__file__).resolve().parents[1]


def test_exported_members_exist() -> None:
    for name in rungwise.__all__:
        assert hasattr(rungwise, name), name
    public = {n for n in dir(rungwise) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(rungwise.__all__), public - set(rungwise.__all__)


def test_public_surface_is_pinned() -> None:
    """What a user imports from `rungwise`; a change here is a change of the public API (and of the docs)."""
    assert sorted(rungwise.__all__) == sorted([
        "NOT_SET", "BudgetExceeded", "Capabilities", "CapabilityMissing", "ClimbCancelled", "ClimbJob",
        "ClimbOptions", "ClimbResult", "Completion", "DataError", "DistillJob", "DistillOptions", "DistillResult",
        "Frontier", "GateResult", "Message", "Metric",
        "MetricError", "MissingApiKey", "MissingExtra", "Model", "ModelChoice", "ModelError", "ModelInfo",
        "ModelUnavailable", "MultiClimbResult", "ProgressEvent",
        "Request", "Rung", "RungContext", "RungSkipped", "RungwiseError", "Store", "StoreError", "Task", "TaskError",
        "TaskSpec", "Variant", "VariantDiff", "__version__", "climb", "climb_models", "compare", "compare_runs",
        "distill", "gate", "register",
        "register_metric", "resolve_model",
    ])


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv[^\n]+)\n```", text)


def test_ci_runs_the_readme_test_command() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    install_and_climb, test = commands
    assert "rungwise climb examples/" in install_and_climb and "constraints.txt" in install_and_climb
    assert test.endswith("python -m pytest")
    assert test in (ROOT / ".ci" / "run").read_text()


def test_constraints_pin_torch() -> None:
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()


def test_nothing_reads_outside_the_project() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    # written in pieces so that this file does not match itself
    pattern = re.compile("|".join(["\\.\\./" + "shared", "/" + "work" + "/", "/" + "root" + "/"]))
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".py", ".toml", ".md", ".txt", ".cfg"} or name == ".ci/run":
            if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
                offenders.append(name)
    assert offenders == []


def test_every_example_carries_its_license() -> None:
    for folder in (ROOT / "examples").iterdir():
        if folder.is_dir():
            readme = (folder / "README.md").read_text()
            assert re.search(r"licen[cs]e", readme, re.IGNORECASE), folder.name
