"""Progress without a terminal: plain lines, one when a piece of work starts, at most one every 30 s while it
advances, and one when it finishes or stops early."""

from __future__ import annotations

import numpy as np
import pytest

from rungwise.progress import PlainProgress, ProgressEvent, duration
from rungwise.retrieval.embeddings import ReportingEmbedder


def test_plain_lines_when_a_piece_starts_every_thirty_seconds_and_when_it_finishes() -> None:
    now = [0.0]
    lines: list[str] = []
    sink = PlainProgress(lines.append, clock=lambda: now[0])
    sink(ProgressEvent("calls", "prompt", 0, 200))
    for done in range(1, 121):
        now[0] = done * 0.25  # 4 answers a second
        sink(ProgressEvent("calls", "prompt", done, 200))
    assert lines == ["prompt: started, 200 rows", "prompt: 120/200, 4.0/s, about 20 s left (30 s so far)"]
    sink(ProgressEvent("training", "finetune", 3, 40))
    for done in range(121, 201):
        now[0] = done * 0.25
        sink(ProgressEvent("calls", "prompt", done, 200))
    assert lines[2:] == ["finetune: training: started, 40 steps, 3 done before",
                         "prompt: 200/200 done in 50 s (4.0/s)"]


def test_a_piece_that_stops_early_says_so_once_and_is_never_printed_again() -> None:
    now = [0.0]
    lines: list[str] = []
    sink = PlainProgress(lines.append, clock=lambda: now[0])
    for done in range(21):
        now[0] = done * 0.5
        sink(ProgressEvent("calls", "prompt", done, 200))
    sink(ProgressEvent("calls", "prompt", 20, 200, stopped="cannot reach the target"))
    assert lines == ["prompt: started, 200 rows", "prompt: stopped after 20 of 200 rows (cannot reach the target)"]
    for done in range(1801):  # half an hour of another variant's calls
        now[0] = 10.0 + done
        sink(ProgressEvent("calls", "fewshot-knn", done, 1800))
    sink(ProgressEvent("calls", "prompt", 20, 200))  # a late repeat of the stopped piece's count
    assert not any(line.startswith("prompt") for line in lines[2:])
    assert lines[2] == "fewshot-knn: started, 1800 rows" and lines[-1] == "fewshot-knn: 1800/1800 done in 30 min 00 s (1.0/s)"
    running = lines[3:-1]  # one line every 30 s, and each estimate shorter than the one before
    assert running == [f"fewshot-knn: {t}/1800, 1.0/s, about {duration(1800 - t)} left ({duration(t)} so far)"
                       for t in range(30, 1800, 30)]


def test_a_piece_that_does_not_advance_prints_nothing() -> None:
    """No line, so no estimate that grows, while a piece waits (here: on the other piece)."""
    now = [0.0]
    lines: list[str] = []
    sink = PlainProgress(lines.append, clock=lambda: now[0])
    for done in range(11):
        now[0] = float(done)
        sink(ProgressEvent("calls", "rag-dense", done, 100))
    for step in range(1, 601):
        now[0] = 10.0 + step
        sink(ProgressEvent("embedding", "corpus", step, 1000))
        sink(ProgressEvent("calls", "rag-dense", 10, 100))  # the same count again: it did not advance
    # its advance to 10 is said once (its rate to its last answer: 1.0/s), then nothing for ten minutes
    assert [line for line in lines if line.startswith("rag-dense")] == [
        "rag-dense: started, 100 rows", "rag-dense: 10/100, 1.0/s, about 1 min 30 s left (30 s so far)"]
    now[0] = 611.0
    sink(ProgressEvent("calls", "rag-dense", 11, 100))
    assert lines[-1] == "rag-dense: 11/100, 1.1/min, about 1 h 22 min left (10 min 11 s so far)"


def test_a_name_that_starts_over_after_it_ended_is_a_new_piece() -> None:
    lines: list[str] = []
    sink = PlainProgress(lines.append, clock=lambda: 0.0)
    sink(ProgressEvent("indexing", "corpus", 0, 1))
    sink(ProgressEvent("indexing", "corpus", 1, 1))
    sink(ProgressEvent("calls", "prompt", 5, 5))
    sink(ProgressEvent("calls", "prompt", 0, 5))  # the same variant name, scored again from the start
    assert lines == ["corpus: indexing: started", "corpus: indexing: done in 0 s", "prompt: 5/5 done in 0 s",
                     "prompt: started, 5 rows"]


def test_a_look_that_scores_more_rows_of_a_finished_variant_is_shown() -> None:
    """climb --decide continues a variant that finished its sample: past its old total it is a piece again."""
    t = [0.0]
    lines: list[str] = []
    sink = PlainProgress(lines.append, clock=lambda: t[0])
    sink(ProgressEvent("calls", "fewshot-knn", 200, 200))
    sink(ProgressEvent("calls", "fewshot-knn", 200, 395))
    for done in range(201, 396):
        t[0] += 1.0
        sink(ProgressEvent("calls", "fewshot-knn", done, 395))
    assert lines[:2] == ["fewshot-knn: 200/200 done in 0 s", "fewshot-knn: started, 395 rows, 200 done before"]
    assert lines[-1] == "fewshot-knn: 395/395 done in 3 min 15 s (1.0/s)" and len(lines) == 2 + 6 + 1


def test_a_variant_resumed_or_cached_is_one_line() -> None:
    lines: list[str] = []
    sink = PlainProgress(lines.append, clock=lambda: 5.0)
    sink(ProgressEvent("calls", "baseline", 30, 30))
    sink(ProgressEvent("calls", "baseline", 30, 30))
    assert lines == ["baseline: 30/30 done in 0 s"]


def test_labels_from_data_are_made_safe_for_a_log() -> None:
    lines: list[str] = []
    PlainProgress(lines.append)(ProgressEvent("calls", "evil\x1b[2J", 1, 1))
    assert "\x1b" not in lines[0]


class _Fake:
    model_id = "fake"
    dim = 2

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 2), dtype=np.float32)


def test_embedding_a_large_pool_reports_its_progress() -> None:
    events: list[ProgressEvent] = []
    embedder = ReportingEmbedder(_Fake(), events.append)
    vecs = embedder.encode([f"t{i}" for i in range(1200)])
    assert vecs.shape == (1200, 2)
    assert [(e.stage, e.done, e.total) for e in events] == [("embedding", d, 1200) for d in (0, 512, 1024, 1200)]
    events.clear()
    embedder.encode(["one"])
    assert events == []  # a query or two: no progress to show


def test_a_bar_that_stopped_early_says_why_and_shows_no_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from rungwise import cli

    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cli, "console", Console(file=io.StringIO(), width=120, force_terminal=True))
    with cli._progress() as (callback, bar):
        callback(ProgressEvent("calls", "prompt", 0, 200))
        callback(ProgressEvent("calls", "prompt", 20, 200))
        callback(ProgressEvent("calls", "prompt", 20, 200, stopped="cannot reach the target"))
        task = bar.tasks[0]
        assert task.description == "prompt (stopped: cannot reach the target)" and task.stop_time is not None
        assert str(cli._Remaining().render(task)) == "" and (task.completed, task.total) == (20, 200)
