"""Chart labels placed without a browser: none overlaps another, a point or the plot's edge."""

from __future__ import annotations

import itertools

from rungwise.report.labels import Box, place, text_width


def test_text_width_grows_with_the_text_and_in_bold() -> None:
    assert text_width("") == 0
    assert text_width("fewshot-knn") < text_width("fewshot-knn-constrained") < text_width("fewshot-knn-constrained",
                                                                                          bold=True)
    assert text_width("mmm") > text_width("iii") and text_width("ab", 24) == 2 * text_width("ab", 12)


def test_crowded_labels_do_not_overlap() -> None:
    """The quality-against-cost chart of a banking77 climb: rag variants and prompt variants bunched together."""
    bounds = Box(56, 0, 580, 296)
    points = [(520.0, 184.0, "rag-hybrid, finetune-rag"), (530.0, 198.0, "rag-dense"), (522.0, 212.0, "rag-bm25"),
              (397.0, 283.0, "prompt-constrained"), (397.0, 296.0, "prompt"), (491.0, 283.0, "fewshot-fixed"),
              (82.0, 296.0, "baseline"), (82.0, 180.0, "finetune-constrained"), (82.0, 198.0, "finetune")]
    placed = place(points, bounds)
    assert [p.text for p in placed] == [t for _, _, t in points]
    for a, b in itertools.combinations(placed, 2):
        assert not a.box.hits(b.box), (a.text, b.text)
    for label in placed:
        assert label.box.inside(bounds), label.text
        for x, y, _ in points:  # no label covers a point
            assert not label.box.hits(Box(x - 7, y - 7, x + 7, y + 7)), (label.text, x, y)
    # a label that is free beside its point stays there, on the side with more room
    finetune = next(p for p in placed if p.text == "finetune-constrained")
    assert (finetune.anchor, finetune.y, finetune.leader) == ("start", 184.0, False)
    rag = next(p for p in placed if p.text == "rag-dense")
    assert rag.anchor == "end"


def test_a_label_with_no_free_place_stays_beside_its_point() -> None:
    placed = place([(50.0, 50.0, "a very long label that cannot fit")], Box(0, 0, 60, 60))
    assert (placed[0].x, placed[0].y, placed[0].anchor) == (41.0, 54.0, "end")
