"""The ladder, cheapest and easiest to undo first. Each rung lives in its own module."""

from __future__ import annotations

from rungwise.rungs.base import GenerationBudget, Rung, RungContext, RungSkipped, Variant
from rungwise.rungs.baseline import BaselineRung
from rungwise.rungs.fewshot import FewShotRung
from rungwise.rungs.finetune import FinetuneRung
from rungwise.rungs.prompt import PromptRung
from rungwise.rungs.rag import RagRung


def ladder() -> list[Rung]:
    """A fresh instance of every rung, in ladder order."""
    return [BaselineRung(), PromptRung(), FewShotRung(), RagRung(), FinetuneRung()]


RUNG_NAMES = [r.name for r in ladder()]

__all__ = ["GenerationBudget", "Rung", "RungContext", "RungSkipped", "Variant", "ladder", "RUNG_NAMES"]
