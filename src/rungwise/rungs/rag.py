"""The rag rung: the prompt rung's structured prompt, then passages retrieved from the task's corpus.

Retrieval modes: BM25, dense (MiniLM) and hybrid (reciprocal rank fusion); the top-k passages are fitted
to the context budget (whole passages in rank order, the last one cut, never an overflow). Where eval rows
carry gold document ids, each rag variant records recall@k and reciprocal rank, and an `oracle` probe gives
the gold passage directly: how much of the gap is knowledge.
"""

from __future__ import annotations

from collections.abc import Callable

from rungwise.data import Example
from rungwise.models.base import Message, Request
from rungwise.retrieval import Document, Hit, RetrievalIndex, RetrievalSettings, fit_to_budget, load_corpus
from rungwise.rungs.base import Rung, RungContext, RungSkipped, Variant
from rungwise.rungs.prompting import structured_system_prompt
from rungwise.task import Task

CONTEXT_RULE = "Use the context passages to answer. The answer is usually a short span copied from them."


def user_with_context(passages: list[str], text: str) -> str:
    blocks = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))
    return f"Context:\n{blocks}\n\nQuestion: {text}"


class RagRung(Rung):
    name = "rag"

    def prepare(self, task: Task, context: RungContext) -> list[Variant]:
        if task.corpus_path is None:
            raise RungSkipped("no corpus.jsonl (or corpus/ folder) in the task folder")
        spec = task.spec.rag
        documents = _documents(task, context)
        index = _index(task, context, documents)
        system = structured_system_prompt(task) + "\n\n" + CONTEXT_RULE
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
                return [_doc_text(by_id[d]) for d in ex.gold_doc_ids if d in by_id]

            variants.append(Variant("oracle", self.name, build_with(gold_passages), probe=True,
                                    config={"context": "the gold document, given directly"}))
        return variants


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
        ranked = [h.doc_id for h in hits(ex)]
        rank = next((i for i, d in enumerate(ranked, start=1) if d in gold), None)
        return {f"recall@{k}": float(rank is not None), "reciprocal_rank": 1.0 / rank if rank else 0.0}

    spec = task.spec.rag
    return Variant(f"rag-{mode}", rung, build_with(lambda ex: [h.text for h in hits(ex)]),
                   config={"mode": mode, "k": k, "chunk_words": spec.chunk_words, "context_tokens": spec.context_tokens},
                   annotate=annotate if has_gold else None)


def _doc_text(doc: Document) -> str:
    return f"{doc.title}: {doc.text}" if doc.title else doc.text


def _documents(task: Task, context: RungContext) -> list[Document]:
    key = ("corpus", str(task.corpus_path))
    if key not in context.resources:
        assert task.corpus_path is not None
        context.resources[key] = load_corpus(task.corpus_path)
    docs: list[Document] = context.resources[key]
    return docs


def _index(task: Task, context: RungContext, documents: list[Document]) -> RetrievalIndex:
    spec = task.spec.rag
    settings = RetrievalSettings(chunk_words=spec.chunk_words, overlap_words=spec.chunk_overlap)
    key = ("index", str(task.corpus_path), settings)
    if key not in context.resources:
        context.resources[key] = RetrievalIndex.build(documents, settings, context.cache_dir,
                                                      embedder=context.resources.get("embedder"))
    index: RetrievalIndex = context.resources[key]
    return index
