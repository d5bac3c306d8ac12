"""Retrieval pieces that several rungs share: the task's corpus index and the passages fitted to the budget.

The rag rung retrieves with each mode; the finetune rung trains and answers with the hybrid passages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rungwise.progress import ProgressSink, report
from rungwise.retrieval.budget import fit_to_budget
from rungwise.retrieval.corpus import Document, load_corpus
from rungwise.retrieval.index import RetrievalIndex, RetrievalSettings

if TYPE_CHECKING:
    from rungwise.task.spec import Task


def user_with_context(passages: list[str], text: str) -> str:
    """The user turn of a rag prompt: numbered passages, then the question."""
    blocks = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))
    return f"Context:\n{blocks}\n\nQuestion: {text}"


def doc_text(doc: Document) -> str:
    return f"{doc.title}: {doc.text}" if doc.title else doc.text


class CorpusCache:
    """A task's corpus documents and retrieval indexes, loaded and built once per climb."""

    def __init__(self, progress: ProgressSink | None = None) -> None:
        self.progress = progress
        self._documents: dict[Path, list[Document]] = {}
        self._indexes: dict[tuple[Path, RetrievalSettings], RetrievalIndex] = {}

    def documents(self, path: Path) -> list[Document]:
        if path not in self._documents:
            self._documents[path] = load_corpus(path)
        return self._documents[path]

    def index(self, task: Task, cache_dir: Path | None, embedder: Any) -> RetrievalIndex:
        assert task.corpus_path is not None
        spec = task.spec.rag
        settings = RetrievalSettings(chunk_words=spec.chunk_words, overlap_words=spec.chunk_overlap)
        key = (task.corpus_path, settings)
        if key not in self._indexes:
            name = task.corpus_path.name
            report(self.progress, "indexing", name, 0, 1)
            self._indexes[key] = RetrievalIndex.build(self.documents(task.corpus_path), settings, cache_dir,
                                                      embedder=embedder)
            report(self.progress, "indexing", name, 1, 1)
        return self._indexes[key]


def hybrid_passages(task: Task, index: RetrievalIndex) -> Callable[[str], list[str]]:
    """The top-k hybrid passages of a text, fitted to the task's context budget (memoised)."""
    spec = task.spec.rag
    memo: dict[str, list[str]] = {}

    def passages(text: str) -> list[str]:
        if text not in memo:
            hits = index.search(text, k=spec.k, mode="hybrid")
            memo[text] = fit_to_budget([h.text for h in hits], spec.context_tokens).passages
        return memo[text]

    return passages
