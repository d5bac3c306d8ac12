"""The embedded server's slots: how many, and when a variant's requests go one at a time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from rungwise.errors import ModelUnavailable
from rungwise.models.base import Message, Request
from rungwise.models.embedded import (
    DEFAULT_SLOTS,
    SERIAL_PREFILL_CHARS,
    EmbeddedModel,
    EmbeddedServer,
    default_slots,
    unshared_chars,
)

SYSTEM = "Classify the online-banking customer message into the intent it expresses. " * 20


def _requests(per_row: list[str]) -> list[Request]:
    return [Request((Message("system", SYSTEM), Message("user", text))) for text in per_row]


def test_unshared_chars_counts_what_follows_the_common_prefix() -> None:
    assert unshared_chars(_requests(["card lost", "card found", "pin blocked"])) == pytest.approx((5 + 11) / 2)
    assert unshared_chars([]) == 0.0


def test_slots_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNGWISE_SLOTS", raising=False)
    assert default_slots() == DEFAULT_SLOTS
    monkeypatch.setenv("RUNGWISE_SLOTS", "4")
    assert default_slots() == 4 and EmbeddedServer().n_parallel == 4
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("RUNGWISE_SLOTS", bad)
        with pytest.raises(ModelUnavailable, match="RUNGWISE_SLOTS"):
            default_slots()


def test_long_per_row_prompts_go_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNGWISE_SLOTS", "2")
    model = EmbeddedModel()  # not started: deciding needs no server
    short = _requests([f"message number {i} about my card" for i in range(10)])
    examples = " ".join(f"Example {j}: some worked pair" for j in range(40))
    long = _requests([f"{i} {examples}\nmessage number {i}" for i in range(10)])
    assert unshared_chars(long) > SERIAL_PREFILL_CHARS > unshared_chars(short)
    assert model.concurrency_for(short) == 2
    assert model.concurrency_for(long) == 1


def test_banking77s_knn_few_shot_goes_one_at_a_time_and_its_short_prompts_two(tmp_path: Path) -> None:
    """On real banking77 rows, through the climb: the rungs whose rows differ by the input alone keep both
    slots, the kNN few-shot rung (each row its own examples) goes one request at a time."""
    from rungwise.engine.job import ClimbOptions, climb
    from rungwise.models.fake import FakeModel

    from helpers import small_banking77

    widths: list[int] = []

    class TwoSlots(FakeModel):
        max_concurrency = 2

        def concurrency_for(self, requests: Sequence[Request]) -> int:
            widths.append(EmbeddedModel.concurrency_for(self, requests))  # type: ignore[arg-type]
            return widths[-1]

    folder = small_banking77(tmp_path, 10, slice(300))
    result = climb(folder, TwoSlots(), ClimbOptions(rungs=["baseline", "prompt", "fewshot"], all_rungs=True,
                                                    store_path=tmp_path / "s.db"))
    assert "fewshot-knn" in [v.name for v in result.variants]
    # baseline, prompt, prompt-constrained, fewshot-fixed, fewshot-knn, fewshot-knn-constrained (whose
    # unconstrained answers from the fake model do not fit, so it calls)
    assert widths[:4] == [2, 2, 2, 2] and widths[4] == 1, widths
