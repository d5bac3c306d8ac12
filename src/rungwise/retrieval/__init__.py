"""Retrieval for the rag rung: corpus loading, chunking, BM25 and dense indexes, fusion, metrics, budgets."""

from rungwise.retrieval.budget import FittedContext, estimate_tokens, fit_to_budget
from rungwise.retrieval.chunking import Chunk, ChunkSettings, chunk_document, chunk_documents
from rungwise.retrieval.corpus import Document, load_corpus
from rungwise.retrieval.fusion import reciprocal_rank_fusion
from rungwise.retrieval.index import Hit, RetrievalIndex, RetrievalSettings
from rungwise.retrieval.metrics import mrr, recall_at_k

__all__ = [
    "Chunk",
    "ChunkSettings",
    "Document",
    "FittedContext",
    "Hit",
    "RetrievalIndex",
    "RetrievalSettings",
    "chunk_document",
    "chunk_documents",
    "estimate_tokens",
    "fit_to_budget",
    "load_corpus",
    "mrr",
    "recall_at_k",
    "reciprocal_rank_fusion",
]
