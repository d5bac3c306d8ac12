"""The chat-completions response validated at the boundary: tolerant where servers differ, never a crash."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rungwise.errors import MalformedResponse, RungwiseError
from rungwise.models.response import ChatAnswer, parse_chat, parse_models, token_count


def _chat(content: Any = "billing", usage: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
    if usage is not None:
        body["usage"] = usage
    return body


def test_content_parts_are_joined_and_null_is_empty() -> None:
    parts = [{"type": "text", "text": "bill"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "ing"}]
    assert parse_chat(_chat(parts)).text == "billing"
    assert parse_chat(_chat(None)).text == ""
    assert parse_chat(_chat("x")).finish_reason == "stop"


@pytest.mark.parametrize("content", [42, 4.2, True, {"text": "billing"}, [7], [{"type": "text", "text": 3}]])
def test_content_that_is_not_text_is_malformed(content: Any) -> None:
    with pytest.raises(MalformedResponse, match="not a chat completion"):
        parse_chat(_chat(content))


@pytest.mark.parametrize("body", [[], "billing", None, 5, {}, {"choices": []}, {"choices": "x"},
                                  {"choices": [{"finish_reason": "stop"}]}, {"choices": [None]}])
def test_bodies_that_are_not_chat_completions(body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_chat(body)


@pytest.mark.parametrize("usage", ["lots", [1, 2], 7, {"prompt_tokens": math.inf, "completion_tokens": math.nan},
                                   {"prompt_tokens": -1_000_000_000, "completion_tokens": -5},
                                   {"prompt_tokens": 10**40, "completion_tokens": 1.5},
                                   {"prompt_tokens": "7", "completion_tokens": True}])
def test_usage_that_cannot_be_counts_is_unknown_never_believed(usage: Any) -> None:
    answer = parse_chat(_chat(usage=usage))
    assert answer.text == "billing"
    assert answer.prompt_tokens is None and answer.completion_tokens is None and not answer.usage_known


def test_good_usage_and_cached_tokens() -> None:
    answer = parse_chat(_chat(usage={"prompt_tokens": 7, "completion_tokens": 2.0,
                                     "prompt_tokens_details": {"cached_tokens": 5}}))
    assert (answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens) == (7, 2, 5)
    for details in ("all", [3], {"cached_tokens": -1}, {"cached_tokens": math.inf}):
        assert parse_chat(_chat(usage={"prompt_tokens": 7, "prompt_tokens_details": details})).cached_tokens is None
    assert token_count(0) == 0 and token_count(-1) is None and token_count(2**31) is None


@pytest.mark.parametrize("body", [{"data": 5}, {"data": [5, "x", None]}, [1, 2], None, "x",
                                  {"data": [{"id": "m", "aliases": None}]}, {"data": [{"id": 7, "aliases": "m"}]},
                                  {"data": [{"id": "m", "meta": "weights", "owned_by": 3}]}])
def test_models_lists_of_any_shape_never_raise(body: Any) -> None:
    for entry in parse_models(body):
        assert entry.id is None or isinstance(entry.id, str)
        assert all(isinstance(a, str) for a in entry.aliases)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(["choices", "message", "content", "usage", "prompt_tokens", "completion_tokens",
                        "prompt_tokens_details", "cached_tokens", "finish_reason", "type", "text", "data", "aliases"])
# bodies near the real shape reach the deeper validators
NEAR = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | st.just("text"),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)


def _check(body: Any) -> None:
    try:
        answer = parse_chat(body)
    except RungwiseError:
        return
    assert isinstance(answer, ChatAnswer) and isinstance(answer.text, str)
    for count in (answer.prompt_tokens, answer.completion_tokens, answer.cached_tokens):
        assert count is None or (isinstance(count, int) and 0 <= count < 2**31)
    parse_models(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, NEAR))
def test_any_json_body_gives_a_completion_or_a_rungwise_error(body: Any) -> None:
    _check(body)
    parse_models(body)


@settings(max_examples=200, deadline=None)
@given(content=NEAR, usage=NEAR, reason=NEAR)
def test_any_content_and_usage_in_a_real_shape(content: Any, usage: Any, reason: Any) -> None:
    _check({"choices": [{"message": {"content": content}, "finish_reason": reason}], "usage": usage})
    _check({"choices": [{"message": {"content": content}}], "usage": {"prompt_tokens": usage, "prompt_tokens_details": usage}})
