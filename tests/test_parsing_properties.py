"""Property tests: whatever bytes a user puts in task.toml or a JSONL file, loading either works or raises a
RungwiseError naming the file; never another exception (which the CLI would show as a traceback)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rungwise.errors import DataError, RungwiseError
from rungwise.task.data import MAX_LINE_BYTES
from rungwise.task.spec import Task

from helpers import LABEL_TOML

GOOD_EVAL = b'{"input": "x", "target": "billing"}\n'
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load(toml: bytes, eval_bytes: bytes = GOOD_EVAL, train: bytes | None = None) -> Task | RungwiseError:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "task.toml").write_bytes(toml)
        (folder / "eval.jsonl").write_bytes(eval_bytes)
        if train is not None:
            (folder / "train.jsonl").write_bytes(train)
        try:
            return Task.load(folder)
        except RungwiseError as exc:
            assert str(folder) in str(exc) or "task.toml" in str(exc) or "jsonl" in str(exc), str(exc)
            return exc


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_as_task_toml(data: bytes) -> None:
    _load(data)


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_as_jsonl(data: bytes) -> None:
    _load(LABEL_TOML.encode(), data)
    _load(LABEL_TOML.encode(), GOOD_EVAL, data)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=20), st.lists(st.text(max_size=5), max_size=3))


def _toml_value(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, int) else json.dumps(v)
    return json.dumps(v)  # strings and lists of strings are valid TOML in JSON form


KEYS = ["name", "instruction", "target", "description", "max_tokens", "trget", "output", "metric"]
SECTIONS = {"output": ["type", "labels", "labels_file", "schema", "fields"], "metric": ["name", "pattern", "function"],
            "eval": ["sample", "seed"], "costs": ["calls_per_month", "input_price_per_million"], "fewshot": ["k", "selection"]}


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), scalars, max_size=6),
       st.dictionaries(st.sampled_from(sorted(SECTIONS)), st.dictionaries(st.sampled_from(sum(SECTIONS.values(), [])), scalars, max_size=3), max_size=3))
def test_wrong_types_and_keys(top: dict[str, Any], sections: dict[str, dict[str, Any]]) -> None:
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items() if _toml_value(v) is not None and k not in sections]
    for name, body in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in body.items() if _toml_value(v) is not None]
    _load("\n".join(lines).encode())


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(["input", "target", "id", "answers", "doc_id"]), scalars, max_size=5), max_size=4))
def test_rows_with_wrong_types(rows: list[dict[str, Any]]) -> None:
    _load(LABEL_TOML.encode(), "".join(json.dumps(r) + "\n" for r in rows).encode())


def test_huge_line_is_refused_by_size(tmp_path: Path) -> None:
    big = b'{"input": "' + b"a" * (MAX_LINE_BYTES + 10) + b'", "target": "billing"}\n'
    err = _load(LABEL_TOML.encode(), big)
    assert isinstance(err, DataError) and err.line == 1 and "bytes" in str(err)


def test_utf16_file_is_refused_with_a_hint() -> None:
    err = _load(LABEL_TOML.encode(), GOOD_EVAL.decode().encode("utf-16"))
    assert isinstance(err, DataError) and "UTF-8" in str(err)
    err = _load(LABEL_TOML.encode("utf-16"))
    assert isinstance(err, DataError) and "UTF-8" in str(err)


def test_deeply_nested_json_line() -> None:
    err = _load(LABEL_TOML.encode(), b"[" * 100_000 + b"]" * 100_000 + b"\n")
    assert isinstance(err, DataError)
