"""The rows the search may read: a dev split carved from train, and the rows the proposer learns from.

Both come from train minus every row whose input folds to an eval input (the rule every use of train follows),
in a seeded order. `SearchRows.guard` refuses any row that is not one of them, and any eval row: a search that
would read an eval row stops with an error instead of leaking the eval into the instruction it picks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from rungwise.errors import RungwiseError
from rungwise.task.data import Example, fold
from rungwise.task.spec import Task

#: dev rows at most (every candidate that survives a minibatch is scored on all of them)
DEV_ROWS = 30
#: the fewest train rows a search needs (dev rows plus rows to show the proposer)
MIN_ROWS = 12


class EvalRowInSearch(RungwiseError):
    """The search was about to read a row it must not: an eval row, or a row outside its split."""


@dataclass(frozen=True)
class SearchRows:
    """`dev`: the rows candidates are judged on (the Pareto set); `feedback`: the rows minibatches are drawn
    from, whose failures the proposer sees. Disjoint, both from train, neither holding an eval row."""

    dev: tuple[Example, ...]
    feedback: tuple[Example, ...]
    eval_ids: frozenset[str]
    eval_inputs: frozenset[str]

    def guard(self, rows: Sequence[Example]) -> None:
        """Raise EvalRowInSearch unless every row is a dev or feedback row and none is an eval row."""
        allowed = {ex.id for ex in self.dev} | {ex.id for ex in self.feedback}
        for ex in rows:
            if ex.id in self.eval_ids or fold(ex.input) in self.eval_inputs:
                raise EvalRowInSearch(f"the prompt search was about to score eval row {ex.id!r}: the search reads "
                                      "dev rows carved from train only")
            if ex.id not in allowed:
                raise EvalRowInSearch(f"the prompt search was about to score row {ex.id!r}, which is not in its "
                                      "dev split")


def search_rows(task: Task, seed: int, dev_rows: int = DEV_ROWS) -> SearchRows | None:
    """The task's dev split (at most `dev_rows`, at most half the usable train rows) and feedback rows; None when
    train holds fewer than MIN_ROWS usable rows."""
    eval_inputs = frozenset(fold(ex.input) for ex in task.eval)
    eval_ids = frozenset(ex.id for ex in task.eval)
    pool = [ex for ex in task.train if fold(ex.input) not in eval_inputs]
    if len(pool) < MIN_ROWS:
        return None
    order = list(pool)
    random.Random(f"rungwise-prompt-search-{seed}").shuffle(order)
    n = min(dev_rows, len(order) // 2)
    rest = order[n:]
    return SearchRows(tuple(order[:n]), tuple(rest[: max(4 * n, 40)]), eval_ids, eval_inputs)
