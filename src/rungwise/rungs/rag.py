"""The rag rung: the prompt rung's structured prompt, then passages retrieved from the task's corpus.

Retrieval modes: BM25, dense (MiniLM) and hybrid (reciprocal rank fusion); the top-k passages are fitted
to the context budget (whole passages in rank order, the last one cut, never an overflow). Where eval rows
carry gold document ids, each rag variant records recall@k (the share of a question's gold documents found in
its top k; with one gold document per question, as in SQuAD-style data, this is also the hit rate) and the
reciprocal rank of the first gold document, and an `oracle` probe gives the gold passage directly: how much
of the gap is knowledge.
"""

from __future__ import annotations

from collections.abc import Callable

from rungwise.models.base import Message, Request
from rungwise.retrieval import Hit, RetrievalIndex, fit_to_budget
from rungwise.retrieval.shared import doc_text, user_with_context
from rungwise.rungs.base import Rung, RungContext, RungSkipped, Variant, register
from rungwise.rungs.prompting import structured_system_prompt
from rungwise.task.data import Example
from rungwise.task.spec import Task

CONTEXT_RULE = "Use the context passages to answer. The answer is usually a short span copied from them."

__all__ = ["CONTEXT_RULE", "RagRung", "retrieval_annotations", "user_with_context"]


@register
class RagRung(Rung):
    name = "rag"
    order = 30
    kind = "knowledge"
    summary = "+ passages retrieved from corpus.jsonl (BM25, dense, hybrid), and the gold passage as an oracle"

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        if task.corpus_path is None:
            raise RungSkipped("no corpus.jsonl (or corpus/ folder) in the task folder")
        spec = task.spec.rag
        corpus = context.resources.corpus_cache()
        documents = corpus.documents(task.corpus_path)
        index = corpus.index(task, context.cache_dir, context.resources.get_embedder())
        system = structured_system_prompt(task, context.resources.instruction) + "\n\n" + CONTEXT_RULE
        budget = context.budget
        has_gold = any(ex.gold_doc_ids for ex in task.eval)

        def build_with(passages_of: Callable[[Example], list[str]]) -> Callable[[Example], Request]:
            def build(ex: Example) -> Request:
                fitted = fit_to_budget(passages_of(ex), spec.context_tokens)
                return Request((Message("system", system), Message("user", user_with_context(fitted.passages, ex.input))),
                               max_tokens=budget.max_tokens, stop=budget.stop)
            return build

        variants = [_retrieval_variant(self.name, index, mode, spec.k, build_with, has_gold, task) for mode in spec.modes]
        if has_gold:
            by_id = {d.id: d for d in documents}

            def gold_passages(ex: Example) -> list[str]:
                return [doc_text(by_id[d]) for d in ex.gold_doc_ids if d in by_id]

            variants.append(Variant("oracle", self.name, build_with(gold_passages), purpose="oracle", retrieval=True,
                                    config={"context": "the gold document, given directly"}))
        return variants


def retrieval_annotations(ranked: list[str], gold: set[str], k: int) -> dict[str, float]:
    """recall@k and reciprocal rank of one question's ranked document ids against its gold ids."""
    rank = next((i for i, d in enumerate(ranked, start=1) if d in gold), None)
    found = len(gold & set(ranked[:k]))
    return {f"recall@{k}": found / len(gold), "reciprocal_rank": 1.0 / rank if rank else 0.0}


def _retrieval_variant(rung: str, index: RetrievalIndex, mode: str, k: int,
                       build_with: Callable[[Callable[[Example], list[str]]], Callable[[Example], Request]],
                       has_gold: bool, task: Task) -> Variant:
    memo: dict[str, list[Hit]] = {}

    def hits(ex: Example) -> list[Hit]:
        if ex.input not in memo:
            memo[ex.input] = index.search(ex.input, k=k, mode=mode)  # type: ignore[arg-type]
        return memo[ex.input]

    def annotate(ex: Example) -> dict[str, float]:
        gold = set(ex.gold_doc_ids)
        if not gold:
            return {}
        ranked = list(dict.fromkeys(h.doc_id for h in hits(ex)))  # chunks of one document count once
        return retrieval_annotations(ranked, gold, k)

    spec = task.spec.rag
    return Variant(f"rag-{mode}", rung, build_with(lambda ex: [h.text for h in hits(ex)]), retrieval=True,
                   config={"mode": mode, "k": k, "chunk_words": spec.chunk_words, "context_tokens": spec.context_tokens},
                   annotate=annotate if has_gold else None)
