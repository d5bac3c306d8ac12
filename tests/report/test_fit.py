"""Whole columns for a terminal's width: which columns a table keeps, and how wide each is drawn."""

from __future__ import annotations

from rungwise.report.fit import Col, fit, table_width


def _cols() -> list[Col]:
    return [Col("name", ["fewshot-knn-constrained"], "left", 0), Col("score [95% CI]", ["89.5% [84.5%, 93.0%]"], rank=1),
            Col("prompt tok", ["810"], rank=2), Col("format fail", ["0"], rank=3), Col("p50 s", ["0.85"], rank=4)]


def test_columns_join_by_rank_while_they_fit_and_headers_break_only_when_they_must() -> None:
    cols = _cols()
    assert [c.width for c in cols] == [23, 20, 6, 6, 4] and table_width(cols) == 75
    assert [(f.col.header, f.width) for f in fit(cols, 75, always=2)] == [
        ("name", 23), ("score [95% CI]", 20), ("prompt tok", 6), ("format fail", 6), ("p50 s", 4)]
    # more room: the headers that need least go on one line first ("p50 s" takes one more column, "format fail" 5)
    assert [f.width for f in fit(cols, 76, always=2)] == [23, 20, 6, 6, 5]
    assert [f.width for f in fit(cols, 200, always=2)] == [23, 20, 10, 11, 5]
    # less room: the least important go, whole
    assert [f.col.header for f in fit(cols, 60, always=2)] == ["name", "score [95% CI]", "prompt tok"]
    assert [f.col.header for f in fit(cols, 30, always=2)] == ["name", "score [95% CI]"]  # the first two stay


def test_a_folding_column_narrows_before_an_always_shown_column_is_left_out() -> None:
    cols = [Col("model", ["http://gpu-box:8000/v1#qwen2.5-7b-instruct"], "left", 0, fold=True),
            Col("variant", ["prompt"], "left", 1), Col("score", ["30.0%"], rank=2), Col("cost", ["0.000020"], rank=3)]
    assert [(f.col.header, f.width) for f in fit(cols, 120, always=4)] == [
        ("model", 42), ("variant", 7), ("score", 5), ("cost", 8)]
    assert [(f.col.header, f.width) for f in fit(cols, 50, always=4)] == [
        ("model", 17), ("variant", 7), ("score", 5), ("cost", 8)]
    # not even at 10 wide: the least important always-shown column goes, and the model gets the room back
    assert [(f.col.header, f.width) for f in fit(cols, 40, always=4)] == [("model", 18), ("variant", 7), ("score", 5)]
    assert [(f.col.header, f.width) for f in fit(cols, 30, always=4)] == [("model", 16), ("variant", 7)]
