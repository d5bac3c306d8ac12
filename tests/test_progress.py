"""Progress without a terminal: plain lines, one when a piece of work finishes and every 10 s while it runs."""

from __future__ import annotations

import numpy as np

from rungwise.embeddings import ReportingEmbedder
from rungwise.progress import PlainProgress, ProgressEvent


def test_plain_lines_per_variant_and_every_ten_seconds() -> None:
    now = [0.0]
    lines: list[str] = []
    sink = PlainProgress(lines.append, clock=lambda: now[0])
    sink(ProgressEvent("calls", "prompt", 0, 100))
    for done in range(1, 51):
        now[0] = done * 0.25  # 4 answers a second
        sink(ProgressEvent("calls", "prompt", done, 100))
    assert lines == ["prompt: 40/100, 4.0/s, about 15 s left (10 s so far)"]
    sink(ProgressEvent("training", "finetune", 3, 40))
    for done in range(51, 101):
        now[0] = done * 0.25
        sink(ProgressEvent("calls", "prompt", done, 100))
    assert lines[1:] == ["prompt: 80/100, 4.0/s, about 5 s left (20 s so far)",
                         "finetune: training: 3/40 (8 s so far)",
                         "prompt: 100/100 done in 25 s (4.0/s)"]


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
