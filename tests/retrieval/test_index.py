from __future__ import annotations

import json
from pathlib import Path

import pytest

from rungwise.retrieval.corpus import Document
from rungwise.retrieval.embeddings import MiniLMEmbedder
from rungwise.retrieval.index import RetrievalIndex, RetrievalSettings

from .fakes import FakeEmbedder

DOCS = [
    Document("rhine", "The Rhine flows from the Swiss Alps to the North Sea.", title="Rhine"),
    Document("cards", "A replacement card takes five working days to arrive by post."),
    Document("plants", "Photosynthesis converts light energy into chemical energy stored in glucose."),
    Document("long", " ".join(f"filler{i}" for i in range(450)) + " unique-tail-word"),
]


def test_second_build_loads_from_disk(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    first = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=fake)
    assert not first.from_cache
    assert fake.calls == 1
    assert fake.texts_encoded == len(first) == 6  # three short docs + 450 words in windows of 200, overlap 40

    second = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=fake)
    assert second.from_cache
    assert fake.calls == 1  # nothing was embedded again
    assert second.key == first.key
    assert [c.doc_id for c in second.chunks] == [c.doc_id for c in first.chunks]
    for mode in ("bm25", "dense", "hybrid"):
        assert second.search("Rhine North Sea", 3, mode) == first.search("Rhine North Sea", 3, mode)


def test_a_changed_corpus_or_setting_rebuilds(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    base = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=fake)

    edited = [*DOCS[:2], Document("plants", DOCS[2].text + " Leaves are green."), DOCS[3]]
    changed = RetrievalIndex.build(edited, cache_dir=tmp_path, embedder=fake)
    assert not changed.from_cache and changed.key != base.key

    rechunked = RetrievalIndex.build(DOCS, RetrievalSettings(chunk_words=100), tmp_path, embedder=fake)
    assert not rechunked.from_cache and len(rechunked) > len(base)

    other_model = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=FakeEmbedder("another-model"))
    assert not other_model.from_cache

    # Query-time settings do not invalidate the cache.
    refused = RetrievalIndex.build(DOCS, RetrievalSettings(rrf_k=10), tmp_path, embedder=fake)
    assert refused.from_cache
    assert len(list((tmp_path / "retrieval").iterdir())) == 4


def test_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNGWISE_CACHE_DIR", str(tmp_path / "env-cache"))
    index = RetrievalIndex.build(DOCS, embedder=FakeEmbedder())
    assert (tmp_path / "env-cache" / "retrieval" / index.key / "manifest.json").is_file()


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    index = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=fake)
    folder = tmp_path / "retrieval" / index.key
    (folder / "dense.npy").write_bytes(b"not numpy")
    again = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=fake)
    assert not again.from_cache and fake.calls == 2
    assert RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=fake).from_cache
    assert json.loads((folder / "manifest.json").read_text())["chunks"] == len(index)


def test_hits_carry_chunks_doc_ids_and_scores(tmp_path: Path) -> None:
    index = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=FakeEmbedder())
    (hit,) = index.search("unique-tail-word filler449", k=1, mode="bm25")
    assert (hit.doc_id, hit.chunk.position, hit.chunk_index) == ("long", 2, 5)
    assert hit.text.endswith("filler449 unique-tail-word")
    assert index.search("Rhine", k=1, mode="bm25")[0].doc_id == "rhine"
    assert index.search("Rhine", k=1, mode="bm25")[0].chunk.search_text.startswith("Rhine\nThe Rhine")
    hybrid = index.search("replacement card arrive", k=10, mode="hybrid")
    assert hybrid[0].doc_id == "cards"
    assert hybrid[0].score == pytest.approx(2 / 61)  # first in both lists
    assert len({h.chunk_index for h in hybrid}) == len(hybrid)
    with pytest.raises(ValueError, match="mode"):
        index.search("x", mode="sparse")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RetrievalIndex.build([], cache_dir=tmp_path, embedder=FakeEmbedder())


def test_hybrid_with_minilm_finds_a_paraphrase_bm25_misses(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    index = RetrievalIndex.build(DOCS, cache_dir=tmp_path, embedder=minilm)
    query = "how do green plants turn sunlight into sugar"
    assert index.search(query, k=3, mode="bm25") == []  # no shared term
    assert index.search(query, k=1, mode="dense")[0].doc_id == "plants"
    assert index.search(query, k=1, mode="hybrid")[0].doc_id == "plants"
