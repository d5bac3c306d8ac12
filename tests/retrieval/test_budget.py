from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rungwise.retrieval.budget import estimate_tokens, fit_to_budget


def chars(text: str) -> int:
    return len(text)


def test_estimate_is_words_times_one_and_a_half_rounded_up() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("one") == 2
    assert estimate_tokens("one two\nthree  four") == 6


def test_whole_passages_then_a_cut_one() -> None:
    passages = ["a b c d", "e f g h", "i j k l", "m n"]
    fitted = fit_to_budget(passages, budget=9, count_tokens=lambda t: len(t.split()))
    assert fitted.passages == ["a b c d", "e f g h", "i"]
    assert (fitted.tokens, fitted.truncated, fitted.dropped) == (9, True, 1)
    assert fitted.text(" | ") == "a b c d | e f g h | i"


def test_everything_fits() -> None:
    fitted = fit_to_budget(["one two", "three"], budget=100)
    assert fitted.passages == ["one two", "three"]
    assert (fitted.truncated, fitted.dropped, fitted.tokens) == (False, 0, 5)


def test_nothing_fits() -> None:
    fitted = fit_to_budget(["alpha beta", "gamma"], budget=1)
    assert fitted.passages == []
    assert (fitted.tokens, fitted.truncated, fitted.dropped) == (0, False, 2)
    with pytest.raises(ValueError):
        fit_to_budget(["x"], budget=-1)


def test_separator_counts_against_the_budget() -> None:
    fitted = fit_to_budget(["aaaa", "bbbb"], budget=9, count_tokens=chars, separator="\n\n")
    # "aaaa\n\nbbbb" is 10 characters: the second passage cannot come whole; no prefix of its one word exists.
    assert fitted.passages == ["aaaa"]
    assert fitted.dropped == 1


words = st.lists(st.sampled_from(["the", "card", "arrived", "late", "x", "refund-policy", "é"]), max_size=40)


@given(
    passages=st.lists(words.map(" ".join), max_size=8),
    budget=st.integers(min_value=0, max_value=120),
    by_chars=st.booleans(),
)
def test_never_exceeds_budget_and_keeps_rank_order(passages: list[str], budget: int, by_chars: bool) -> None:
    count = chars if by_chars else estimate_tokens
    fitted = fit_to_budget(passages, budget, count)
    assert count(fitted.text()) <= budget
    assert fitted.tokens == count(fitted.text())
    # Every kept passage but the last is whole and in order; the last is whole or a prefix of the next one.
    n = len(fitted.passages)
    if n:
        assert fitted.passages[: n - 1] == passages[: n - 1]
        assert passages[n - 1].startswith(fitted.passages[-1])
        assert fitted.truncated == (fitted.passages[-1] != passages[n - 1])
    assert n + fitted.dropped == len(passages)
