"""The CLI turns every user error into one line and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import LABEL_TOML, LABEL_TRAIN, write_task


def _run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rungwise", *args], capture_output=True, text=True, timeout=120)


def test_bad_jsonl_line_is_one_clear_error(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, [{"input": "x", "target": "billing"}])
    with open(folder / "eval.jsonl", "a") as f:
        f.write("{broken\n")
    proc = _run("climb", str(folder), "--model", "fake")
    assert proc.returncode == 2
    assert "eval.jsonl, line 2" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout


def test_target_outside_label_set(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, [{"input": "x", "target": "bilingg"}])
    proc = _run("climb", str(folder), "--model", "fake")
    assert proc.returncode == 2 and "field 'target'" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_endpoint(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, [{"input": "x", "target": "billing"}])
    proc = _run("climb", str(folder), "--model", "http://127.0.0.1:9/v1", "--model-name", "m")
    assert proc.returncode == 2 and "Cannot reach" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_api_key(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, [{"input": "x", "target": "billing"}])
    proc = _run("climb", str(folder), "--model", "https://api.example.invalid/v1", "--model-name", "m",
                "--api-key-env", "RUNGWISE_TEST_NO_SUCH_KEY")
    assert proc.returncode == 2 and "RUNGWISE_TEST_NO_SUCH_KEY" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_folder_and_init(tmp_path: Path) -> None:
    proc = _run("climb", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "no such task folder" in proc.stderr
    proc = _run("init", str(tmp_path / "new-task"))
    assert proc.returncode == 0 and (tmp_path / "new-task" / "task.toml").exists()
    proc = _run("init", str(tmp_path / "new-task"))
    assert proc.returncode == 2 and "not empty" in proc.stderr
    # the scaffold climbs as it is, on the fake model
    proc = _run("climb", str(tmp_path / "new-task"), "--model", "fake", "--store", str(tmp_path / "s.db"))
    assert proc.returncode == 0, proc.stderr


def test_export_finetune_files(tmp_path: Path) -> None:
    import json

    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, [{"input": "The app crashes!", "target": "technical"}])
    proc = _run("export-finetune", str(folder), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    chat = [json.loads(line) for line in (tmp_path / "out" / "route.openai-chat.jsonl").read_text().splitlines()]
    # the eval input "The app crashes!" leaks from train after folding: it is not exported
    assert len(chat) == len(LABEL_TRAIN) - 1
    assert chat[0]["messages"][-1] == {"role": "assistant", "content": "billing"}
    assert chat[0]["messages"][0]["content"].startswith("Which team?")
    pc = [json.loads(line) for line in (tmp_path / "out" / "route.prompt-completion.jsonl").read_text().splitlines()]
    assert pc[0]["completion"] == [{"role": "assistant", "content": "billing"}]


def test_a_bad_option_is_one_line_naming_it(tmp_path: Path) -> None:
    """Options are validated by ClimbOptions: the CLI prints its OptionsError on one line, exit code 2."""
    folder = write_task(tmp_path / "t", LABEL_TOML, LABEL_TRAIN, [{"input": "x", "target": "billing"}])
    proc = _run("climb", str(folder), "--model", "fake", "--leakage", "maybe", "--store", str(tmp_path / "s.db"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "option leakage" in lines[0] and "'stop', 'drop' or 'warn'" in lines[0] and "'maybe'" in lines[0]
