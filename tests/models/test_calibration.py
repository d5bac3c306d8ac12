"""The token estimate calibrated from reported usage: a template's fixed overhead is told apart from the scale."""

from __future__ import annotations

import pytest

from rungwise.models.base import Message
from rungwise.models.calibration import TokenCalibration
from rungwise.models.tokens import estimate_tokens


def test_a_line_separates_the_templates_overhead_from_the_scale() -> None:
    cal = TokenCalibration()
    assert cal.scale is None and "no usage seen yet" in cal.describe()
    for words in (5, 12, 30, 60, 90):
        text = " ".join(["word"] * words)
        real = round(0.7 * estimate_tokens(text)) + 23  # a default system prompt of 23 tokens
        cal.observe([Message("user", text)], real)
    assert cal.scale == pytest.approx(0.7, abs=0.02)


def test_too_few_or_too_alike_answers_give_the_ratio_of_the_totals() -> None:
    cal = TokenCalibration()
    for _ in range(6):
        cal.observe([Message("system", "x" * 40), Message("user", "y" * 40)], 2 * 10 + 10)
    assert cal.scale == pytest.approx((30 - 10) / 20)  # no spread: no line; 5 tokens a message taken off
    cal.observe([Message("user", "z" * 10_000)], 10**9)
    assert cal.scale is not None and cal.scale <= 4.0  # an absurd usage does not make an absurd scale
