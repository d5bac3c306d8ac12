"""Split documents into overlapping windows of words, keeping each chunk's document id."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rungwise.retrieval.corpus import Document

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class ChunkSettings:
    """Windows of `size_words` words; consecutive windows share `overlap_words` words."""

    size_words: int = 200
    overlap_words: int = 40

    def __post_init__(self) -> None:
        if self.size_words < 1:
            raise ValueError(f"size_words must be at least 1, got {self.size_words}")
        if not 0 <= self.overlap_words < self.size_words:
            raise ValueError(
                f"overlap_words must be in [0, size_words), got {self.overlap_words} with size {self.size_words}"
            )


@dataclass(frozen=True)
class Chunk:
    """A passage of one document: `text` keeps the document's own spacing and line breaks."""

    doc_id: str
    text: str
    position: int  # 0-based index of this chunk within its document
    start_word: int  # index of its first word within the document
    title: str | None = None

    @property
    def search_text(self) -> str:
        """What the indexes see: the title (when there is one) and the passage."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def chunk_document(doc: Document, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """Windows over the document's words; a document of at most `size_words` words is one chunk."""
    spans = [m.span() for m in _WORD.finditer(doc.text)]
    if not spans:
        return []
    step = settings.size_words - settings.overlap_words
    chunks: list[Chunk] = []
    start = 0
    while True:
        end = min(start + settings.size_words, len(spans))
        text = doc.text[spans[start][0] : spans[end - 1][1]]
        chunks.append(Chunk(doc.id, text, len(chunks), start, doc.title))
        if end == len(spans):
            return chunks
        start += step


def chunk_documents(docs: Iterable[Document], settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    return [chunk for doc in docs for chunk in chunk_document(doc, settings)]
