"""Calibrating the character-based token estimate from the usage a server reports, per model.

Without a tokenizer endpoint rungwise estimates counts from the text (`estimate_tokens`). Each
answer's usage says how many prompt tokens the request really took; over the first answers the ratio of real to
estimated tokens (after the chat template's few tokens per message) is learnt and the estimate scaled by it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rungwise.models.base import Message


def estimate_tokens(text: str) -> int:
    """A typical count for English with a BPE tokenizer: 1.5 tokens per word, and at least one per 4 characters
    (identifiers such as `card_payment_wrong_exchange_rate` are one word of many tokens)."""
    return max(math.ceil(1.5 * len(text.split())), math.ceil(len(text) / 4))


def upper_bound_tokens(text: str) -> int:
    """A count BPE tokenizers rarely exceed (2 characters a token): where too few tokens would cut answers short."""
    return math.ceil(len(text) / 2)

#: chat-template tokens around each message (role markers, separators); generous for common templates
PER_MESSAGE = 5
#: answers the calibration learns from; later ones do not move it
MAX_POINTS = 32
#: a line is fitted (scale and overhead apart) from this many answers whose estimates spread this much (relative)
MIN_FIT_POINTS = 4
MIN_SPREAD = 0.15
#: a scale outside this range is not believed
SCALE_RANGE = (0.25, 4.0)


class TokenCalibration:
    """real prompt tokens ~= scale * estimate(content) + overhead, fitted on the first answers.

    The overhead is the chat template's (role markers, and a default system prompt some templates add): the same
    for every request, so a least-squares line through (estimate, real) separates it from the scale once the
    requests differ enough in length. Until then the scale is the ratio of the totals after PER_MESSAGE tokens
    per message. Only the scale is applied to a text's estimate: the overhead belongs to a request, not a text."""

    def __init__(self) -> None:
        self.points = 0
        self._sx = self._sy = self._sxx = self._sxy = 0.0
        self._ratio_real = self._ratio_est = 0

    def observe(self, messages: Sequence[Message], prompt_tokens: int) -> None:

        if self.points >= MAX_POINTS or prompt_tokens <= 0:
            return
        estimate = sum(estimate_tokens(m.content) for m in messages)
        if estimate <= 0:
            return
        self.points += 1
        x, y = float(estimate), float(prompt_tokens)
        self._sx += x
        self._sy += y
        self._sxx += x * x
        self._sxy += x * y
        self._ratio_est += estimate
        self._ratio_real += max(1, prompt_tokens - PER_MESSAGE * len(messages))

    @property
    def scale(self) -> float | None:
        """Real tokens per estimated token, or None before any answer."""
        if not self.points:
            return None
        n = self.points
        var = self._sxx / n - (self._sx / n) ** 2
        if n >= MIN_FIT_POINTS and var > 0 and math.sqrt(var) >= MIN_SPREAD * (self._sx / n):
            slope = (self._sxy / n - (self._sx / n) * (self._sy / n)) / var
            overhead = self._sy / n - slope * self._sx / n
            if SCALE_RANGE[0] <= slope <= SCALE_RANGE[1] and overhead >= 0:
                return slope
        return min(max(self._ratio_real / self._ratio_est, SCALE_RANGE[0]), SCALE_RANGE[1])

    def describe(self) -> str:
        scale = self.scale
        if scale is None:
            return "estimate (characters and words; no usage seen yet)"
        return f"estimate calibrated on {self.points} answer{'s' if self.points != 1 else ''} (x{scale:.2f})"
