"""The one bounded decoder every response body passes: content codings undone step by step through every layer,
so a small body that inflates to gigabytes costs a few steps of memory; corrupt or unknown codings are refused."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from rungwise.models.http import MAX_BODY_BYTES, BodyTooLarge, BodyUnreadable, _read_capped
from rungwise.models.openai_http import answer_limit, retry_after_s


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, data: bytes, size: int = 4096) -> None:
        self.data, self.size = data, size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), self.size):
            yield self.data[i:i + self.size]


def _read(body: bytes, coding: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    headers = {"content-encoding": coding} if coding else {}
    response = httpx.Response(200, headers=headers, stream=_Chunks(body))
    asyncio.run(_read_capped(response, limit))
    return response.content


def _gzip_bomb(mib: int, layers: int = 2) -> bytes:
    d = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    data = b"".join([d.compress(b" " * (1 << 20)) for _ in range(mib)] + [d.flush()])
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


ANSWER = b'{"choices": [{"message": {"content": "billing"}}]}'


@pytest.mark.parametrize("coding, body", [
    (None, ANSWER),
    ("identity", ANSWER),
    ("gzip", gzip.compress(ANSWER)),
    ("x-gzip", gzip.compress(ANSWER)),
    ("deflate", zlib.compress(ANSWER)),  # zlib-wrapped, as the RFC says
    ("deflate", zlib.compress(ANSWER)[2:-4]),  # raw deflate, as many servers send
    ("gzip, gzip", gzip.compress(gzip.compress(ANSWER))),
    ("deflate, gzip", gzip.compress(zlib.compress(ANSWER))),
])
def test_every_coding_a_server_may_use_decodes(coding: str | None, body: bytes) -> None:
    assert _read(body, coding) == ANSWER


def test_a_nested_gzip_bomb_is_refused_within_a_few_mib_of_memory() -> None:
    bomb = _gzip_bomb(512)  # 512 MiB of spaces, a few KB on the wire
    assert len(bomb) < 8 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            _read(bomb, "gzip, gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the 16 MiB cap plus a few 64 KiB steps; inflating the chunk whole would take the 512 MiB
    assert peak < MAX_BODY_BYTES + 8 * 1024 * 1024, peak


def test_the_cap_counts_the_decoded_bytes() -> None:
    with pytest.raises(BodyTooLarge):
        _read(gzip.compress(b"x" * 5000), "gzip", limit=4096)
    assert _read(gzip.compress(b"x" * 4096), "gzip", limit=4096) == b"x" * 4096


@pytest.mark.parametrize("coding, body, reason", [
    ("deflate", b"\x78\x9c" + b"not a deflate stream" * 8, "corrupt"),
    ("gzip", b"\x1f\x8b\x08\x00" + b"\xff" * 40, "corrupt"),
    ("br", b"\x0b\x02\x80billing\x03", "did not ask for"),
    ("zstd", b"(\xb5/\xfd", "did not ask for"),
    ("gzip, gzip, gzip", gzip.compress(gzip.compress(gzip.compress(ANSWER))), "encoded 3 times"),
])
def test_a_body_that_cannot_be_decoded_is_refused_in_one_line(coding: str, body: bytes, reason: str) -> None:
    with pytest.raises(BodyUnreadable, match=reason):
        _read(body, coding)


@pytest.mark.parametrize("value", [
    "Fri, 31 Dec 99999 23:59:59 GMT",  # a year no datetime holds
    "Fri, 31 Dec 2027 23:59:59 +99999999",  # an offset of centuries
    "Tue, 99 Foo 2027 99:99:99 GMT",
    "1e400",
    "nan",
    "-inf",
])
def test_a_retry_after_no_clock_can_hold_is_ignored(value: str) -> None:
    assert retry_after_s(value, now=0.0) is None or retry_after_s(value, now=0.0) == 0.0


def test_a_retry_after_date_is_read_as_seconds() -> None:
    assert retry_after_s("Thu, 01 Jan 1970 00:01:40 GMT", now=0.0) == 100.0
    assert retry_after_s("120") == 120.0


def test_an_answer_is_bounded_by_the_tokens_it_was_allowed() -> None:
    assert answer_limit(None) is None and answer_limit(0) is None and answer_limit(True) is None
    assert answer_limit(5) is not None and 10 * 1024 * 1024 > answer_limit(5) >= 5 * 64
