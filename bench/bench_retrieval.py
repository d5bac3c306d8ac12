"""Retrieval speed figures (printed, not asserted) against the floors:

    index 10,000 chunks (BM25 + dense)            <= 30 s on 2 cores
    one query, p50, per mode (bm25/dense/hybrid)  <= 10 ms
    kNN for 1,000 eval inputs, pool embedded      <= 5 s    (encode the inputs + nearest over the pool)

    python bench/bench_retrieval.py [--corpus corpus.jsonl] [--pool train.jsonl] [--eval eval.jsonl]

Text files are JSONL with a "text" or an "input" field. The defaults are the repository's example task folders;
where they are missing, or hold fewer rows than asked for, text is synthesised by reshuffling the sentences
that are available (seeded), so every run indexes the asked-for number of chunks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rungwise.retrieval.bm25 import BM25Index
from rungwise.retrieval.chunking import chunk_documents
from rungwise.retrieval.corpus import Document
from rungwise.retrieval.embeddings import default_embedder, encode_cached, nearest
from rungwise.retrieval.index import RetrievalIndex, RetrievalSettings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

# Used only when no data file is available at all.
_FALLBACK = (
    "The card was delivered late. A transfer can be cancelled within an hour. Exchange rates change daily. "
    "The river flows north into the sea. Plants turn light into chemical energy. The team won the final. "
    "Fees apply to cash withdrawals abroad. The museum opens at nine on weekdays. Rain delayed the match."
)


def read_texts(path: Path | None) -> list[str]:
    if path is None or not path.is_file():
        return []
    texts = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                text = row.get("text") or row.get("input")
                if isinstance(text, str) and text.strip():
                    texts.append(text)
    return texts


def synthesise(texts: list[str], n: int, seed: int) -> list[str]:
    """n texts: the originals first, then reshuffled sentences of about the originals' lengths."""
    if len(texts) >= n:
        return texts[:n]
    rng = random.Random(seed)
    source = texts or [_FALLBACK]
    sentences = [s for t in source for s in re.split(r"(?<=[.!?])\s+", t) if s.strip()]
    lengths = [len(t.split()) for t in source]
    out = list(texts)
    while len(out) < n:
        target, words = rng.choice(lengths), []
        while len(words) < target:
            words.extend(rng.choice(sentences).split())
        out.append(" ".join(words[:target]))
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_index(texts: list[str], settings: RetrievalSettings, cache_dir: Path) -> RetrievalIndex:
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    chunks = chunk_documents(docs, settings.chunking)
    words = [len(c.text.split()) for c in chunks]
    print(f"  corpus: {len(docs):,} documents -> {len(chunks):,} chunks, {statistics.mean(words):.0f} words/chunk mean")

    t0 = time.perf_counter()
    BM25Index.build([c.search_text for c in chunks])
    bm25_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    index = RetrievalIndex.build(docs, settings, cache_dir)
    total_s = time.perf_counter() - t0
    print(f"  build (chunk + BM25 + embed + write cache): {total_s:6.1f} s   [floor 30 s for 10,000 chunks]")
    print(f"    of which BM25 alone:                      {bm25_s:6.2f} s  ({len(chunks) / total_s:,.0f} chunks/s overall)")

    t0 = time.perf_counter()
    again = RetrievalIndex.build(docs, settings, cache_dir)
    assert again.from_cache
    print(f"  reload unchanged corpus from cache:         {time.perf_counter() - t0:6.2f} s")
    return index


def bench_queries(index: RetrievalIndex, queries: list[str], k: int) -> None:
    for mode in ("bm25", "dense", "hybrid"):
        for q in queries[:5]:
            index.search(q, k, mode)  # warm up
        times = []
        for q in queries:
            t0 = time.perf_counter()
            index.search(q, k, mode)
            times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        index.search_batch(queries, k, mode)
        batch_ms = (time.perf_counter() - t0) * 1000 / len(queries)
        print(
            f"  {mode:6s} one at a time: p50 {percentile(times, 50):6.2f} ms  p95 {percentile(times, 95):6.2f} ms"
            f"   batched: {batch_ms:5.2f} ms/query   [floor p50 10 ms]"
        )


def bench_knn(pool: list[str], inputs: list[str], k: int, cache_dir: Path) -> None:
    embedder = default_embedder()
    t0 = time.perf_counter()
    pool_vecs = encode_cached(embedder, pool, cache_dir)
    print(f"  embed the pool once ({len(pool):,} rows, cached after):  {time.perf_counter() - t0:6.1f} s")
    pool_index = {text: i for i, text in enumerate(pool)}

    t0 = time.perf_counter()
    query_vecs = embedder.encode(inputs)
    encode_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    exclude = np.zeros((len(inputs), len(pool)), dtype=bool)
    for row, text in enumerate(inputs):  # never offer an input its own twin from the pool
        if text in pool_index:
            exclude[row, pool_index[text]] = True
    found = nearest(query_vecs, pool_vecs, k, exclude=exclude)
    nearest_s = time.perf_counter() - t1
    print(
        f"  kNN for {len(inputs):,} inputs (k={k}): {encode_s + nearest_s:6.2f} s "
        f"(encode {encode_s:.2f} s + mask and nearest {nearest_s:.3f} s)   [floor 5 s]"
    )
    assert found.indices.shape == (len(inputs), k)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=EXAMPLES / "xquad_en" / "corpus.jsonl",
                        help="texts to index (JSONL, 'text' or 'input')")
    parser.add_argument("--pool", type=Path, default=EXAMPLES / "banking77" / "train.jsonl",
                        help="kNN pool and query texts (JSONL, 'input' or 'text')")
    parser.add_argument("--eval", type=Path, default=EXAMPLES / "banking77" / "eval.jsonl",
                        help="kNN inputs (JSONL); the pool is sampled when missing")
    parser.add_argument("--chunks", type=int, default=10_000, help="documents to index (each <= chunk-words)")
    parser.add_argument("--chunk-words", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--knn-inputs", type=int, default=1_000)
    parser.add_argument("--knn-pool", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sections", default="index,query,knn", help="comma-separated: index, query, knn")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    print(f"rungwise retrieval bench: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    default_embedder().encode(["warm up"])
    print(f"model load (once per process): {time.perf_counter() - t0:.1f} s")

    corpus = read_texts(args.corpus)
    pool_texts = read_texts(args.pool)
    eval_texts = read_texts(args.eval)
    settings = RetrievalSettings(chunk_words=args.chunk_words, overlap_words=min(40, args.chunk_words // 5))
    # Documents no longer than a chunk, so the document count is the chunk count.
    corpus = [" ".join(t.split()[: args.chunk_words]) for t in synthesise(corpus, args.chunks, args.seed)]
    rng = random.Random(args.seed)
    queries = rng.sample(pool_texts, min(args.queries, len(pool_texts))) if pool_texts else []
    queries = synthesise(queries, args.queries, args.seed + 1)

    with tempfile.TemporaryDirectory(prefix="rungwise-bench-") as tmp:
        cache = Path(tmp)
        sections = set(args.sections.split(","))
        if sections & {"index", "query"}:
            print(f"\nindex ({args.corpus.name if args.corpus.is_file() else 'synthesised'})")
            index = bench_index(corpus, settings, cache)
        if "query" in sections:
            print(f"\nquery latency over {len(index):,} chunks, {len(queries)} queries, k={args.k}")
            bench_queries(index, queries, args.k)
        if "knn" not in sections:
            return
        pool = synthesise(pool_texts, args.knn_pool, args.seed + 2)
        inputs = eval_texts[: args.knn_inputs] if eval_texts else []
        if len(inputs) < args.knn_inputs:
            inputs += rng.sample(pool, min(args.knn_inputs - len(inputs), len(pool)))
        print(f"\nkNN selection ({args.pool.name if args.pool.is_file() else 'synthesised'} pool)")
        bench_knn(pool, inputs, args.k, cache)


if __name__ == "__main__":
    sys.exit(main())
