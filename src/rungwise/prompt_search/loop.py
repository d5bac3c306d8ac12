"""The search loop, pure: candidates, a Pareto pool over dev rows, reflective proposals, a budget in metric calls.

It reaches the model only through the two functions it is given, `evaluate(instruction, rows)` (the task's
model answering with that instruction, scored by the task's metric) and `propose(prompt)` (the proposer's text),
so the rung decides how calls are made, cached and counted, and a test can script both.

One round: pick a parent from the Pareto front (the candidates best on at least one dev row, each drawn with
weight the number of rows it leads on), run it on a minibatch of feedback rows, show the proposer the attempts,
run the proposal on the same minibatch, and only when it beats its parent there, score it on every dev row and
add it to the pool. The search stops when the next round could not be paid for. The winner is the candidate with
the best mean dev score (ties: the earlier, so the clear prompt wins a tie). It *beats* the clear prompt only when
its gain on the dev rows is significant (a one-sided exact sign test over the rows where the two differ,
Bonferroni-adjusted for the candidates it was picked from, p below `BEATS_P`): a one-row gain on 30 dev rows is
noise, and the rungs above should not build on it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from math import comb
from typing import Any

from rungwise.prompt_search.reflection import Attempt, grounded_prompt, instruction_from, reflective_prompt
from rungwise.prompt_search.split import SearchRows
from rungwise.task.data import Example

#: rows per minibatch (the proposer sees this many attempts at once)
MINIBATCH = 4
#: rounds at most, whatever the budget (a proposer that never helps does not spin forever)
MAX_ROUNDS = 60
#: the winner beats the clear prompt when its paired dev gain has a one-sided sign-test p below this
BEATS_P = 0.05

Evaluate = Callable[[str, Sequence[Example]], Awaitable[list[Attempt]]]
Propose = Callable[[str], Awaitable[str]]


@dataclass
class Candidate:
    """An instruction and its score on each dev row (by row id)."""

    index: int
    instruction: str
    origin: str  # "clear prompt", "grounded" or "reflection"
    parent: int | None
    dev: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(self.dev.values()) / len(self.dev) if self.dev else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "instruction": self.instruction, "origin": self.origin, "parent": self.parent,
                "dev_score": self.score}


@dataclass
class SearchResult:
    """The pool, the winner, the clear prompt it started from, and what the search spent in calls."""

    candidates: list[Candidate]
    best: Candidate
    start: Candidate
    metric_calls: int
    proposals: int
    rounds: int
    rejected: int
    log: list[str] = field(default_factory=list)

    @property
    def dev_p(self) -> float:
        """One-sided exact sign test of the winner against the clear prompt on the dev rows where they differ,
        Bonferroni-adjusted for the other candidates scored on those rows (the winner is the best of them, picked
        on the same rows, so its raw p would flatter it)."""
        others = max(1, len(self.candidates) - 1)
        return min(1.0, sign_test(self.best.dev, self.start.dev) * others)

    @property
    def beats_start(self) -> bool:
        """The winner is not the clear prompt and its dev gain is significant (`BEATS_P`)."""
        return self.best.index != self.start.index and self.best.score > self.start.score and self.dev_p < BEATS_P

    def to_dict(self) -> dict[str, Any]:
        return {"dev_before": self.start.score, "dev_after": self.best.score, "dev_rows": len(self.start.dev),
                "dev_p": self.dev_p, "beats_clear_prompt": self.beats_start,
                "winner": self.best.to_dict(), "candidates": [c.to_dict() for c in self.candidates],
                "metric_calls": self.metric_calls, "proposals": self.proposals, "rounds": self.rounds,
                "rejected": self.rejected, "log": self.log}


def sign_test(a: dict[str, float], b: dict[str, float]) -> float:
    """P(at least as many rows where `a` beats `b`) if either were as likely to win each row they differ on."""
    wins = sum(1 for k, v in a.items() if v > b.get(k, 0.0))
    losses = sum(1 for k, v in a.items() if v < b.get(k, 0.0))
    n = wins + losses
    return 1.0 if n == 0 else sum(comb(n, i) for i in range(wins, n + 1)) / 2 ** n


def pareto_front(pool: Sequence[Candidate]) -> dict[int, int]:
    """Candidate index -> the dev rows it is best on (ties shared): the candidates worth building on."""
    wins: dict[int, int] = {}
    rows = pool[0].dev.keys() if pool else []
    for row in rows:
        top = max(c.dev.get(row, 0.0) for c in pool)
        for c in pool:
            if c.dev.get(row, 0.0) == top:
                wins[c.index] = wins.get(c.index, 0) + 1
    return wins


async def search(start: str, rows: SearchRows, evaluate: Evaluate, propose: Propose, *, budget: int, seed: int,
                 description: str, output_format: Sequence[str], minibatch: int = MINIBATCH) -> SearchResult:
    """Search for an instruction better than `start` (the clear prompt's task line) on `rows.dev`, within
    `budget` metric calls. `description` and `output_format` ground the first proposal."""
    rng = random.Random(f"rungwise-prompt-search-loop-{seed}")
    dev = list(rows.dev)
    if len(dev) > budget:
        raise ValueError(f"{len(dev)} dev rows do not fit a budget of {budget} metric calls: scoring the clear "
                         "prompt alone would pass it")
    feedback = list(rows.feedback) or dev
    spent = proposals = rounds = rejected = 0
    log: list[str] = []
    pool: list[Candidate] = []
    seen: set[str] = set()

    async def on_dev(text: str, origin: str, parent: int | None) -> Candidate:
        nonlocal spent
        rows.guard(dev)
        attempts = await evaluate(text, dev)
        spent += len(dev)
        c = Candidate(len(pool), text, origin, parent, {a.example.id: a.score for a in attempts})
        pool.append(c)
        seen.add(text)
        return c

    async def on_batch(text: str, batch: Sequence[Example]) -> list[Attempt]:
        nonlocal spent
        rows.guard(batch)
        attempts = await evaluate(text, batch)
        spent += len(batch)
        return attempts

    first = await on_dev(start, "clear prompt", None)
    log.append(f"clear prompt: dev {first.score:.3f}")
    if spent + len(dev) <= budget:  # a proposal grounded in the spec and a few train rows
        shown = rng.sample(feedback, min(3, len(feedback)))
        text = instruction_from(await propose(grounded_prompt(description, output_format, shown)))
        proposals += 1
        if text and text not in seen:
            c = await on_dev(text, "grounded", None)
            log.append(f"grounded proposal: dev {c.score:.3f}")
    while rounds < MAX_ROUNDS and spent + 2 * minibatch + len(dev) <= budget:
        rounds += 1
        wins = pareto_front(pool)
        ids = sorted(wins)
        parent = pool[rng.choices(ids, weights=[wins[i] for i in ids])[0]]
        batch = rng.sample(feedback, min(minibatch, len(feedback)))
        tried = await on_batch(parent.instruction, batch)
        if all(a.score >= 1.0 for a in tried):  # nothing to learn from: another minibatch next round
            continue
        text = instruction_from(await propose(reflective_prompt(parent.instruction, tried)))
        proposals += 1
        if not text or text in seen:
            rejected += 1
            continue
        seen.add(text)
        child = await on_batch(text, batch)
        before, after = sum(a.score for a in tried), sum(a.score for a in child)
        if after <= before:
            rejected += 1
            log.append(f"round {rounds}: proposal from #{parent.index} no better on its minibatch "
                       f"({after:.2f} vs {before:.2f})")
            continue
        c = await on_dev(text, "reflection", parent.index)
        log.append(f"round {rounds}: #{c.index} from #{parent.index}: minibatch {after:.2f} vs {before:.2f}, "
                   f"dev {c.score:.3f}")
    best = max(pool, key=lambda c: (c.score, -c.index))
    return SearchResult(pool, best, first, spent, proposals, rounds, rejected, log)
