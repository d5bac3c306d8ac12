"""Calibrating the character-based token estimate from the usage a server reports, per model.

Without a tokenizer endpoint rungwise estimates counts from the text (`rungwise.tokens.estimate_tokens`). Each
answer's usage says how many prompt tokens the request really took; over the first answers the ratio of real to
estimated tokens (after the chat template's few tokens per message) is learnt and the estimate scaled by it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rungwise.models.base import Message

#: chat-template tokens around each message (role markers, separators); generous for common templates
PER_MESSAGE = 5
#: answers the calibration learns from; later ones do not move it
MAX_POINTS = 32


class TokenCalibration:
    """real prompt tokens ~= scale * estimate(content) + PER_MESSAGE per message, fitted on the first answers."""

    def __init__(self) -> None:
        self.points = 0
        self._real = 0
        self._estimated = 0

    def observe(self, messages: Sequence[Message], prompt_tokens: int) -> None:
        from rungwise.tokens import estimate_tokens

        if self.points >= MAX_POINTS or prompt_tokens <= 0:
            return
        estimate = sum(estimate_tokens(m.content) for m in messages)
        real = prompt_tokens - PER_MESSAGE * len(messages)
        if estimate <= 0 or real <= 0:
            return
        self.points += 1
        self._real += real
        self._estimated += estimate

    @property
    def scale(self) -> float | None:
        """Real tokens per estimated token, or None before any answer."""
        return self._real / self._estimated if self._estimated else None

    def describe(self) -> str:
        scale = self.scale
        if scale is None:
            return "estimate (characters and words; no usage seen yet)"
        return f"estimate calibrated on {self.points} answer{'s' if self.points != 1 else ''} (x{scale:.2f})"
