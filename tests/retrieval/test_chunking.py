from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rungwise.retrieval.chunking import ChunkSettings, chunk_document, chunk_documents
from rungwise.retrieval.corpus import Document


def numbered(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_windows_overlap_by_the_setting() -> None:
    doc = Document("d", numbered(25))
    chunks = chunk_document(doc, ChunkSettings(size_words=10, overlap_words=3))
    words = [c.text.split() for c in chunks]
    assert [c.start_word for c in chunks] == [0, 7, 14, 21]
    assert words[0] == [f"w{i}" for i in range(10)]
    assert words[-1] == [f"w{i}" for i in range(21, 25)]
    for a, b in zip(words, words[1:]):
        assert a[-3:] == b[:3]
    assert [c.position for c in chunks] == [0, 1, 2, 3]
    assert {c.doc_id for c in chunks} == {"d"}


def test_no_tail_chunk_made_only_of_overlap() -> None:
    chunks = chunk_document(Document("d", numbered(17)), ChunkSettings(size_words=10, overlap_words=3))
    assert [c.start_word for c in chunks] == [0, 7]
    assert chunks[-1].text.split()[-1] == "w16"


def test_short_document_is_one_chunk_with_its_spacing() -> None:
    doc = Document("faq.md", "  Line one.\n\nLine   two.  ", title="FAQ")
    (chunk,) = chunk_document(doc)
    assert chunk.text == "Line one.\n\nLine   two."
    assert chunk.doc_id == "faq.md"
    assert chunk.search_text == "FAQ\nLine one.\n\nLine   two."


def test_blank_document_has_no_chunks_and_ids_follow_documents() -> None:
    docs = [Document("a", numbered(5)), Document("blank", " \n"), Document("b", numbered(30))]
    chunks = chunk_documents(docs, ChunkSettings(size_words=20, overlap_words=5))
    assert [(c.doc_id, c.position) for c in chunks] == [("a", 0), ("b", 0), ("b", 1)]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_settings(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        ChunkSettings(size_words=size, overlap_words=overlap)


@given(
    n_words=st.integers(min_value=1, max_value=300),
    size=st.integers(min_value=1, max_value=60),
    overlap_share=st.floats(min_value=0, max_value=0.95),
)
def test_chunks_cover_every_word_in_order(n_words: int, size: int, overlap_share: float) -> None:
    overlap = min(int(size * overlap_share), size - 1)
    settings = ChunkSettings(size_words=size, overlap_words=overlap)
    chunks = chunk_document(Document("d", numbered(n_words)), settings)
    covered: list[str] = []
    for chunk in chunks:
        words = chunk.text.split()
        assert 1 <= len(words) <= size
        assert words[0] == f"w{chunk.start_word}"
        covered.extend(words[len(covered) - chunk.start_word :])
    assert covered == numbered(n_words).split()
