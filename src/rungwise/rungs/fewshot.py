"""The few-shot rung: the prompt rung's structured prompt plus k worked examples from train.

Selection: `fixed` (seeded, label-balanced for label tasks: the same examples for every input, so they sit
in the shared prefix) or `knn` (the nearest train rows of each input by MiniLM embeddings). Examples come
from train only, and never a train row that is the eval input itself after folding case and punctuation.
For label tasks a `knn-label` reference answers with the label of the nearest train row, no LLM at all.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from rungwise.judge.curves import curve_sizes, nested_subset
from rungwise.models.base import Message, Request
from rungwise.rungs.base import Rung, RungContext, RungSkipped, Variant, register
from rungwise.rungs.constrained import with_constrained_twin
from rungwise.rungs.prompting import structured_system_prompt
from rungwise.task.data import Example, fold
from rungwise.task.spec import Task

if TYPE_CHECKING:
    from rungwise.retrieval.knn import KnnSelector


def fixed_examples(task: Task, pool: list[Example], k: int, seed: int) -> list[Example]:
    """k examples drawn with a seed; for label tasks, from k different labels (round-robin when k > labels)."""
    rng = random.Random(seed)
    if task.spec.output.type != "label":
        return rng.sample(pool, min(k, len(pool)))
    by_label: dict[str, list[Example]] = defaultdict(list)
    for ex in pool:
        by_label[ex.target].append(ex)
    labels = sorted(by_label)
    rng.shuffle(labels)
    picked: list[Example] = []
    round_ = 0
    while len(picked) < min(k, len(pool)):
        for label in labels:
            if len(picked) >= k:
                break
            rows = by_label[label]
            if round_ < len(rows):
                picked.append(rng.choice([r for r in rows if r not in picked]))
        round_ += 1
    return picked


def render(system: str, shots: list[Example], text: str, style: str) -> tuple[Message, ...]:
    """Examples as chat turns (user/assistant pairs) or inline in the system prompt."""
    if style == "inline":
        block = "\n\n".join(f"Input: {ex.input}\nOutput: {ex.target}" for ex in shots)
        return (Message("system", f"{system}\n\nExamples:\n\n{block}"), Message("user", text))
    turns: list[Message] = [Message("system", system)]
    for ex in shots:
        turns += [Message("user", ex.input), Message("assistant", ex.target)]
    return (*turns, Message("user", text))


def _pool(task: Task) -> list[Example]:
    """Train rows minus any that fold to an eval input: the few-shot pool never offers a leaked row."""
    eval_inputs = {fold(ex.input) for ex in task.eval}
    return [ex for ex in task.train if fold(ex.input) not in eval_inputs]


@register
class FewShotRung(Rung):
    name = "fewshot"
    order = 20
    kind = "examples"
    summary = "+ k worked examples from train: fixed and label-balanced, or nearest neighbours (kNN)"

    def __init__(self, render_style: str | None = None) -> None:
        self.render_style = render_style

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        if not task.train:
            raise RungSkipped("no train.jsonl: few-shot examples come from train")
        spec = task.spec.fewshot
        style = self.render_style or spec.render
        pool = _pool(task)
        system = structured_system_prompt(task, context.resources.instruction)
        budget = context.budget
        k = spec.k
        variants: list[Variant] = []

        def builder(select: Callable[[Example], list[Example]]) -> Callable[[Example], Request]:
            def build(ex: Example) -> Request:
                return Request(render(system, select(ex), ex.input, style), max_tokens=budget.max_tokens, stop=budget.stop)
            return build

        if "fixed" in spec.selection:
            shots = fixed_examples(task, pool, k, task.spec.eval.seed)
            variants.append(Variant("fewshot-fixed", self.name, builder(lambda ex: shots),
                                    config={"k": k, "selection": "fixed", "render": style, "examples": [s.id for s in shots]}))
        if "knn" in spec.selection:
            selector = context.resources.knn_selector(pool, context.cache_dir)

            def neighbours(ex: Example) -> list[Example]:
                # nearest last: the closest example sits right before the input
                return [pool[i] for i in reversed(selector.neighbours(ex.input, k))]

            knn = Variant("fewshot-knn", self.name, builder(neighbours),
                          config={"k": k, "selection": "knn", "render": style, "embedder": selector.embedder.model_id})
            variants += with_constrained_twin(knn, task, context.info, budget)
            if task.spec.output.type == "label":
                def nearest_label(ex: Example) -> str:
                    idx = selector.neighbours(ex.input, k)
                    return pool[idx[0]].target if idx else ""
                variants.append(Variant("knn-label", self.name, answer=nearest_label, purpose="reference",
                                        config={"reference": "the label of the nearest train row"}))
            if context.curve or spec.curve:
                variants += self._curve(task, context, pool, k, builder)
        return variants

    def _curve(self, task: Task, context: RungContext, pool: list[Example], k: int,
               builder: Callable[[Callable[[Example], list[Example]]], Callable[[Example], Request]]) -> list[Variant]:
        """`fewshot-knn` with smaller pools, each a seeded subset of the next: the points of its learning curve
        (purpose `curve`, so they never change the ladder's decision). No training: only the pool shrinks."""
        out: list[Variant] = []
        for n in curve_sizes(task.spec.fewshot.curve, len(pool)):
            sub = nested_subset(pool, n, task.spec.eval.seed)
            selector = context.resources.knn_selector(sub, context.cache_dir)

            def neighbours(ex: Example, sub: list[Example] = sub, selector: KnnSelector = selector) -> list[Example]:
                return [sub[i] for i in reversed(selector.neighbours(ex.input, k))]

            out.append(Variant(f"fewshot-knn@{n}", self.name, builder(neighbours), purpose="curve",
                               config={"k": k, "selection": "knn", "curve": "fewshot-knn", "rows": n, "of": len(pool)}))
        return out
