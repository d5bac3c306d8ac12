"""The retrieval index a rag rung uses: chunks, BM25 and dense indexes over them, cached on disk.

The cache lives at `<cache_dir>/retrieval/<key>/`, where the key hashes the corpus content, the chunking
settings, the embedding model id and the BM25 setup: an unchanged corpus loads from disk, any change rebuilds.
A build is written to a temporary folder and renamed into place, so a reader never sees half an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

from rungwise.paths import cache_root
from rungwise.retrieval.bm25 import BM25Index, Hits
from rungwise.retrieval.chunking import Chunk, ChunkSettings, chunk_documents
from rungwise.retrieval.corpus import Document
from rungwise.retrieval.dense import DenseIndex
from rungwise.retrieval.embeddings import Embedder, default_embedder
from rungwise.retrieval.fusion import RRF_K, reciprocal_rank_fusion

Mode = Literal["bm25", "dense", "hybrid"]
MODES: tuple[str, ...] = get_args(Mode)

# Bump when the on-disk layout or the BM25 setup changes: old cache entries are then ignored.
_FORMAT = "rungwise-retrieval-1;bm25s-en-stopwords-nostem"
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RetrievalSettings:
    """How the corpus is chunked (part of the cache key) and how hybrid search fuses (query time only)."""

    chunk_words: int = 200
    overlap_words: int = 40
    rrf_k: int = RRF_K
    #: how deep each index is read before fusing, in hybrid mode
    fusion_depth: int = 50

    @property
    def chunking(self) -> ChunkSettings:
        return ChunkSettings(self.chunk_words, self.overlap_words)


@dataclass(frozen=True)
class Hit:
    chunk_index: int
    chunk: Chunk
    score: float

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def text(self) -> str:
        return self.chunk.text


def corpus_hash(documents: Sequence[Document]) -> str:
    """A content hash of the ordered documents (ids, titles and texts)."""
    h = hashlib.sha256()
    for doc in documents:
        h.update(json.dumps([doc.id, doc.title, doc.text], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def index_key(documents: Sequence[Document], settings: RetrievalSettings, model_id: str) -> str:
    import bm25s

    parts = [_FORMAT, f"bm25s=={bm25s.__version__}", model_id, json.dumps(asdict(settings.chunking), sort_keys=True)]
    h = hashlib.sha256("\0".join(parts).encode("utf-8"))
    h.update(corpus_hash(documents).encode("ascii"))
    return h.hexdigest()


class RetrievalIndex:
    """BM25, dense and hybrid (reciprocal rank fusion) search over a corpus's chunks."""

    def __init__(
        self,
        chunks: list[Chunk],
        bm25: BM25Index,
        dense: DenseIndex,
        settings: RetrievalSettings,
        *,
        key: str = "",
        from_cache: bool = False,
    ):
        self.chunks = chunks
        self.bm25 = bm25
        self.dense = dense
        self.settings = settings
        self.key = key
        #: True when this index was read from the disk cache rather than built
        self.from_cache = from_cache

    @classmethod
    def build(
        cls,
        documents: Sequence[Document],
        settings: RetrievalSettings = RetrievalSettings(),
        cache_dir: Path | str | None = None,
        *,
        embedder: Embedder | None = None,
    ) -> RetrievalIndex:
        """Load the index for these documents and settings from the cache, or build and cache it."""
        if len(documents) == 0:
            raise ValueError("cannot index an empty corpus")
        embedder = embedder if embedder is not None else default_embedder()
        key = index_key(documents, settings, embedder.model_id)
        folder = cache_root(cache_dir) / "retrieval" / key
        cached = _load(folder, key, settings, embedder)
        if cached is not None:
            return cached
        chunks = chunk_documents(documents, settings.chunking)
        texts = [c.search_text for c in chunks]
        index = cls(chunks, BM25Index.build(texts), DenseIndex.build(texts, embedder), settings, key=key)
        _save(index, folder)
        return index

    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        return self.search_batch([query], k, mode)[0]

    def search_batch(self, queries: Sequence[str], k: int = 5, mode: Mode = "hybrid") -> list[list[Hit]]:
        """The k best chunks per query, best first. Scores: BM25, cosine, or fused RRF, by mode."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if mode == "bm25":
            ranked = self.bm25.search_batch(queries, k)
        elif mode == "dense":
            ranked = self.dense.search_batch(queries, k)
        else:
            depth = max(k, self.settings.fusion_depth)
            lexical = self.bm25.search_batch(queries, depth)
            semantic = self.dense.search_batch(queries, depth)
            ranked = [self._fuse(lex, sem, k) for lex, sem in zip(lexical, semantic)]
        return [[Hit(i, self.chunks[i], s) for i, s in hits] for hits in ranked]

    def _fuse(self, lexical: Hits, semantic: Hits, k: int) -> Hits:
        lists = [[i for i, _ in lexical], [i for i, _ in semantic]]
        return reciprocal_rank_fusion(lists, k=self.settings.rrf_k, limit=k)


def _save(index: RetrievalIndex, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        with (tmp / "chunks.jsonl").open("w", encoding="utf-8") as f:
            for chunk in index.chunks:
                f.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        index.bm25.save(tmp / "bm25")
        index.dense.save(tmp / "dense.npy")
        manifest = {"key": index.key, "format": _FORMAT, "chunks": len(index.chunks)}
        (tmp / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a broken entry that _load rejected
        os.rename(tmp, folder)
    except OSError:
        # Another process renamed its copy into place first, or the cache is read-only: the index in
        # memory is complete either way, so carry on without caching.
        shutil.rmtree(tmp, ignore_errors=True)


def _load(folder: Path, key: str, settings: RetrievalSettings, embedder: Embedder) -> RetrievalIndex | None:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("key") != key or manifest.get("format") != _FORMAT:
            return None
        with (folder / "chunks.jsonl").open(encoding="utf-8") as f:
            chunks = [Chunk(**json.loads(line)) for line in f]
        bm25 = BM25Index.load(folder / "bm25")
        dense = DenseIndex.load(folder / "dense.npy", embedder)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not len(chunks) == len(bm25) == len(dense) == manifest.get("chunks"):
        return None
    return RetrievalIndex(chunks, bm25, dense, settings, key=key, from_cache=True)
