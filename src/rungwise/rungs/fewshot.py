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
from typing import Any

from rungwise.data import Example, fold
from rungwise.models.base import Message, Request
from rungwise.rungs.base import Rung, RungContext, RungSkipped, Variant
from rungwise.rungs.constrained import constrained, constraint_for
from rungwise.rungs.prompting import structured_system_prompt
from rungwise.task import Task

#: pool rows at least this similar to the input are treated as its twin and never offered
TWIN_SIMILARITY = 0.97


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


class KnnSelector:
    """Nearest train rows of each input, the pool embedded once (cached on disk by content hash)."""

    def __init__(self, pool: list[Example], embedder: Any, cache_dir: Any = None) -> None:
        from rungwise.embeddings import encode_cached

        self.pool = pool
        self.embedder = embedder
        self.vectors = encode_cached(embedder, [ex.input for ex in pool], cache_dir)
        self.folded = [fold(ex.input) for ex in pool]
        self._memo: dict[tuple[str, int], list[int]] = {}

    def neighbours(self, text: str, k: int) -> list[int]:
        """Pool indices of the k nearest rows to `text`, best first (memoised)."""
        if (text, k) not in self._memo:
            self._memo[(text, k)] = self.select([text], k)[0]
        return self._memo[(text, k)]

    def select(self, inputs: list[str], k: int) -> list[list[int]]:
        from rungwise.embeddings import nearest

        q = self.embedder.encode(inputs)
        sims = q @ self.vectors.T
        exclude = sims >= TWIN_SIMILARITY
        folded_q = [fold(t) for t in inputs]
        index: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(self.folded):
            index[f].append(i)
        for row, f in enumerate(folded_q):
            exclude[row, index.get(f, [])] = True
        found = nearest(q, self.vectors, k, exclude=exclude)
        return [[int(i) for i in row if i >= 0] for row in found.indices]


def _pool(task: Task) -> list[Example]:
    """Train rows minus any that fold to an eval input: the few-shot pool never offers a leaked row."""
    eval_inputs = {fold(ex.input) for ex in task.eval}
    return [ex for ex in task.train if fold(ex.input) not in eval_inputs]


class FewShotRung(Rung):
    name = "fewshot"

    def __init__(self, render_style: str | None = None) -> None:
        self.render_style = render_style

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        if not task.train:
            raise RungSkipped("no train.jsonl: few-shot examples come from train")
        spec = task.spec.fewshot
        style = self.render_style or spec.render
        pool = _pool(task)
        system = structured_system_prompt(task)
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
            selector = _selector(context, pool)

            def neighbours(ex: Example) -> list[Example]:
                # nearest last: the closest example sits right before the input
                return [pool[i] for i in reversed(selector.neighbours(ex.input, k))]

            knn_build = builder(neighbours)
            variants.append(Variant("fewshot-knn", self.name, knn_build,
                                    config={"k": k, "selection": "knn", "render": style, "embedder": selector.embedder.model_id}))
            constraint = constraint_for(task, context.model) if task.spec.output.constrained else None
            if constraint is not None:
                variants.append(Variant("fewshot-knn-constrained", self.name,
                                        lambda ex: constrained(knn_build(ex), constraint),
                                        config={"k": k, "selection": "knn", "render": style, "constraint": sorted(constraint)}))
            if task.spec.output.type == "label":
                def nearest_label(ex: Example) -> str:
                    idx = selector.neighbours(ex.input, k)
                    return pool[idx[0]].target if idx else ""
                variants.append(Variant("knn-label", self.name, answer=nearest_label, probe=True,
                                        config={"reference": "label of the nearest train row, no LLM"}))
        return variants


def _selector(context: RungContext, pool: list[Example]) -> KnnSelector:
    key = ("knn", id(pool), len(pool))
    if key not in context.resources:
        embedder = context.resources.get("embedder")
        if embedder is None:
            from rungwise.embeddings import default_embedder
            embedder = context.resources["embedder"] = default_embedder()
        context.resources[key] = KnnSelector(pool, embedder, context.cache_dir)
    selector: KnnSelector = context.resources[key]
    return selector

