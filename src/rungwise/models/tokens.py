"""Counting tokens: the model's own tokenizer where it has one (llama.cpp's and vLLM's /tokenize), else one
estimate used everywhere (the generation budget, the dry run and the cost cap, the rag context budget), flagged as
an estimate. The estimate is calibrated per model from the usage its server reports on the first answers
(`rungwise.models.calibration`), and says so (`basis`).

What goes into a request (the generation budget, the rag context) is counted without the calibration
(`calibrated=False`): a request must not depend on what the server answered before, or the response cache and
resume would miss. The calibration sharpens what only estimates (the dry run, the cost cap)."""

from __future__ import annotations

import math

from rungwise.models.base import Model
from rungwise.models.calibration import TokenCalibration, estimate_tokens, upper_bound_tokens

#: a calibrated estimate used where too few tokens would cut answers short gets this margin
CONSERVATIVE_MARGIN = 1.25


class TokenCounter:
    """Counts with the model's tokenizer when it has one (memoised), else estimates; `estimated` says which, and
    `basis` how (calibrated from the server's usage once answers have come back)."""

    def __init__(self, model: Model, *, conservative: bool = False, calibrated: bool = True) -> None:
        self.model = model
        self.conservative = conservative
        self.calibrated = calibrated
        self._memo: dict[str, int] = {}
        self.estimated = False

    @property
    def calibration(self) -> TokenCalibration | None:
        found = getattr(self.model, "calibration", None) if self.calibrated else None
        return found if isinstance(found, TokenCalibration) else None

    @property
    def basis(self) -> str:
        if not self.estimated:
            return "the model's tokenizer"
        calibration = self.calibration
        return calibration.describe() if calibration is not None else "estimate (characters and words)"

    def estimate(self, text: str) -> int:
        calibration = self.calibration
        scale = calibration.scale if calibration is not None else None
        if scale is None:
            return upper_bound_tokens(text) if self.conservative else estimate_tokens(text)
        margin = CONSERVATIVE_MARGIN if self.conservative else 1.0
        return max(1, math.ceil(estimate_tokens(text) * scale * margin)) if text else 0

    async def count(self, text: str) -> int:
        if text in self._memo:
            return self._memo[text]
        n = await self.model.count_tokens(text)
        if n is None:  # not memoised: the calibration may sharpen it by the next call
            self.estimated = True
            return self.estimate(text)
        self._memo[text] = n
        return n
