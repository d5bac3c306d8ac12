"""Launching and following a TRL training (finetune/trl_job.py): the command for python and for accelerate
launch, progress from the entry point's file, cancel through a file, resume, a failure as one line. The process
here is a small stand-in that speaks the entry point's file protocol; the real entry point trains for real in
tests/e2e/test_open_weights_e2e.py and tests/finetune/test_vllm_server.py."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from rungwise.cancel import CancelToken
from rungwise.errors import ClimbCancelled
from rungwise.finetune.train import LoraConfig
from rungwise.finetune.trl_job import TrainingFailed, TrlJob, launch_command, run_trl
from rungwise.models.base import Message
from rungwise.progress import ProgressEvent

#: the entry point's protocol: a progress line per step, stop (exit 3) when `cancel` appears, else write the
#: adapter and result.json; `fail` as its argument: an error on stderr and exit 1
STAND_IN = r'''
import json, os, sys, time
from pathlib import Path
folder = Path(sys.argv[1]).parent
if sys.argv[2:] == ["fail"]:
    print("Traceback (most recent call last):\nRuntimeError: CUDA out of memory", file=sys.stderr)
    sys.exit(1)
done = len((folder / "progress.jsonl").read_text().splitlines()) if (folder / "progress.jsonl").exists() else 0
for step in range(done + 1, 5):
    if (folder / "cancel").exists():
        sys.exit(3)
    with open(folder / "progress.jsonl", "a") as f:
        f.write(json.dumps({"step": step, "total": 4, "loss": 1.0 / step}) + "\n")
    time.sleep(float(os.environ.get("STEP_S", "0.05")))
(folder / "adapter").mkdir(exist_ok=True)
(folder / "result.json").write_text(json.dumps({"steps": 4, "total_steps": 4, "train_seconds": 0.2,
    "trained_tokens": 400, "resumed_from": done}))
'''

ROWS = [((Message("user", f"Which fruit? {i}"),), "apple") for i in range(6)]


def job(folder: Path) -> TrlJob:
    return TrlJob.of(ROWS, LoraConfig(batch_size=2, seed=3), base_dir=Path("/models/base"), folder=folder)


def stand_in(tmp_path: Path, folder: Path, *args: str) -> list[str]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    return [sys.executable, str(script), str(folder / "job.json"), *args]


def test_the_job_file_holds_the_rows_in_trls_prompt_completion_format(tmp_path: Path) -> None:
    j = job(tmp_path / "run")
    lines = [json.loads(x) for x in Path(j.data).read_text().splitlines()]
    assert lines[0] == {"prompt": [{"role": "user", "content": "Which fruit? 0"}],
                        "completion": [{"role": "assistant", "content": "apple"}]}
    assert (j.batch_size, j.seed, j.r, j.base_dir) == (2, 3, 16, "/models/base")


def test_launch_commands() -> None:
    assert launch_command(Path("/r/job.json"), python="/venv/bin/python") == [
        "/venv/bin/python", "-m", "rungwise.finetune.trl_entry", "/r/job.json"]
    cmd = launch_command(Path("/r/job.json"), "accelerate", Path("/cfg/fsdp.yaml"), python="/venv/bin/python")
    assert cmd[1:] == ["launch", "--config_file", "/cfg/fsdp.yaml", "-m", "rungwise.finetune.trl_entry",
                       "/r/job.json"]
    assert Path(cmd[0]).name == "accelerate"


def test_progress_then_result_then_reuse(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    events: list[ProgressEvent] = []
    result = run_trl(job(folder), folder, command=stand_in(tmp_path, folder), progress=events.append,
                     name="finetune", poll_s=0.02)
    assert result["steps"] == 4 and result["resumed_from"] == 0
    assert [(e.name, e.stage, e.done, e.total) for e in events] == [("finetune", "training", s, 4) for s in (1, 2, 3, 4)]
    # a finished training is reused: nothing is launched again
    again = run_trl(job(folder), folder, command=["/no/such/program"], poll_s=0.02)
    assert again == result


def test_cancel_stops_the_process_and_a_second_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "run"
    monkeypatch.setenv("STEP_S", "0.4")
    token = CancelToken()
    events: list[ProgressEvent] = []

    def cancel_after_first_step(e: ProgressEvent) -> None:
        events.append(e)
        token.cancel()

    started = time.monotonic()
    with pytest.raises(ClimbCancelled, match="run the same climb again to resume"):
        run_trl(job(folder), folder, command=stand_in(tmp_path, folder), progress=cancel_after_first_step,
                cancel=token, poll_s=0.02)
    assert time.monotonic() - started < 10 and (folder / "cancel").exists()
    assert not (folder / "result.json").exists() and len(events) < 4
    monkeypatch.setenv("STEP_S", "0.01")
    result = run_trl(job(folder), folder, command=stand_in(tmp_path, folder), poll_s=0.02)
    assert result["resumed_from"] >= 1  # it went on from where the first run stopped
    assert not (folder / "cancel").exists() and result["steps"] == 4


def test_a_failed_training_is_one_line_with_its_last_error(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with pytest.raises(TrainingFailed) as e:
        run_trl(job(folder), folder, command=stand_in(tmp_path, folder, "fail"), poll_s=0.02)
    text = str(e.value)
    assert "exit code 1" in text and "RuntimeError: CUDA out of memory" in text and "train.log" in text
    assert "\n" not in text


def test_a_program_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with pytest.raises(TrainingFailed, match="Could not start the training"):
        run_trl(job(folder), folder, command=[str(tmp_path / "missing-accelerate")], poll_s=0.02)


def test_progress_lines_are_read_whole(tmp_path: Path) -> None:
    from rungwise.finetune.trl_job import _follow

    path = tmp_path / "progress.jsonl"
    path.write_text('{"step": 1, "total": 3}\n{"step": 2, "to')
    events: list[ProgressEvent] = []
    seen, last = _follow(path, 0, (0, 0), events.append, "ft")
    assert [e.done for e in events] == [1] and last == (1, 3)
    with path.open("a") as f:
        f.write('tal": 3}\nnot json\n')
    _follow(path, seen, last, events.append, "ft")
    assert [e.done for e in events] == [1, 2]


def test_cancel_from_another_thread_while_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "run"
    monkeypatch.setenv("STEP_S", "0.3")
    token = CancelToken()
    threading.Timer(0.5, token.cancel).start()
    with pytest.raises(ClimbCancelled):
        run_trl(job(folder), folder, command=stand_in(tmp_path, folder), cancel=token, poll_s=0.02)

