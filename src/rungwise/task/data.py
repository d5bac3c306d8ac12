"""Reading the task's JSONL files. Every problem names the file, the line and the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from rungwise.errors import DataError
from rungwise.textsafe import unstorable_char

MAX_LINE_BYTES = 1 << 20  # 1 MiB: a longer line is almost certainly not one example
MAX_FILE_BYTES = 64 << 20  # 64 MiB: task.toml, a labels file, a corpus document read whole


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A file read whole, but never more than `limit` bytes into memory: a larger one is a DataError."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise DataError(path, f"is larger than {limit:,} bytes, the most rungwise reads of such a file")
    return data


@dataclass(frozen=True)
class Example:
    """One row of train.jsonl or eval.jsonl."""

    id: str
    input: str
    target: str
    #: every other field of the row (`answers`, `doc_id`, `category`, ...)
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def answers(self) -> list[str]:
        """All acceptable answers: the `answers` field where the row has one, else the target."""
        extra = self.meta.get("answers")
        if isinstance(extra, list) and extra and all(isinstance(a, str) for a in extra):
            return list(extra)
        return [self.target]

    @property
    def gold_doc_ids(self) -> list[str]:
        doc = self.meta.get("doc_id", self.meta.get("doc_ids"))
        if isinstance(doc, str):
            return [doc]
        if isinstance(doc, list):
            return [str(d) for d in doc]
        return []


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; bad lines raise DataError."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(_bounded_lines(handle), start=1):
            if raw is None:
                raise DataError(path, f"line is longer than {MAX_LINE_BYTES:,} bytes, the most a row may hold "
                                "(is the file one JSON object per line?)", line=number)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(path, "not valid UTF-8; save the file as UTF-8", line=number) from None
            if number == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    path, f"not valid JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object", line=number
                ) from None
            except RecursionError:
                raise DataError(path, "JSON nested too deeply", line=number) from None
            if not isinstance(obj, dict):
                raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", line=number)
            _refuse_unstorable(path, number, obj)
            yield number, obj


def _bounded_lines(handle: BinaryIO) -> Iterator[bytes | None]:
    """The file's lines, none read past MAX_LINE_BYTES into memory: a longer line yields None (and ends the file)."""
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES:
            yield None
            return
        yield raw


def _refuse_unstorable(path: Path, number: int, value: Any, field: str | None = None) -> None:
    """A lone surrogate ("\\ud800") or NUL ("\\u0000") in any string of a row is refused: no store holds it."""
    if isinstance(value, str):
        bad = unstorable_char(value)
        if bad is not None:
            what = "a NUL character" if bad == "\\u0000" else f"a lone surrogate ({bad}), which is not text"
            raise DataError(path, f"holds {what}; no store can keep it. Remove it from the row", line=number,
                            field=field)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(path, number, key, field)
            _refuse_unstorable(path, number, item, key if field is None else f"{field}.{key}")
    elif isinstance(value, list):
        for item in value:
            _refuse_unstorable(path, number, item, field)


def _text_field(path: Path, number: int, obj: dict[str, Any], name: str) -> str:
    if name not in obj:
        raise DataError(path, f'missing; every row needs "{name}"', line=number, field=name)
    value = obj[name]
    if isinstance(value, (dict, list)) and name == "target":
        # a structured target (JSON tasks) is kept as canonical JSON text
        return json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        raise DataError(path, f"expected a string, got {type(value).__name__}", line=number, field=name)
    return value


def row_id(path: Path, number: int, obj: dict[str, Any], split: str, seen: dict[str, int]) -> str:
    """`<split>:<id>` from the row's `id` field, else `<split>:L<line>`; checked against the ids `seen` so far in
    the file (id -> line), which it records."""
    raw_id = obj.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        raise DataError(path, "expected a string or an integer", line=number, field="id")
    ex_id = f"{split}:{raw_id}" if raw_id is not None else f"{split}:L{number}"
    if ex_id in seen:
        raise DataError(path, f"duplicate id {raw_id!r} (first on line {seen[ex_id]})", line=number, field="id")
    seen[ex_id] = number
    return ex_id


def read_examples(path: Path, split: str) -> list[Example]:
    """Read train.jsonl or eval.jsonl into Examples. Ids come from an `id` field or the line number."""
    rows: list[Example] = []
    seen: dict[str, int] = {}
    for number, obj in iter_jsonl(path):
        text = _text_field(path, number, obj, "input")
        target = _text_field(path, number, obj, "target")
        ex_id = row_id(path, number, obj, split, seen)
        meta = {k: v for k, v in obj.items() if k not in ("input", "target", "id")}
        rows.append(Example(id=ex_id, input=text, target=target, meta=meta))
    if not rows:
        raise DataError(path, "has no rows; add one JSON object per line with \"input\" and \"target\"")
    return rows


_NOT_WORD = re.compile(r"[^\w\s]")


def fold(text: str) -> str:
    """Case, punctuation and whitespace folded ("Top-up?" == "top up"): equal after folding, the same input."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


#: what the label parser trims from both ends of an answer line
LABEL_TRIM = " \t\r\n\"'`*.,;:!?()[]{}<>"


def label_key(text: str) -> str:
    """A label as the parser matches it: trimmed of quotes and punctuation, whitespace collapsed, case folded.
    Two labels with the same key cannot be told apart in an answer (task.py refuses such a label set)."""
    return re.sub(r"\s+", " ", text.strip(LABEL_TRIM)).casefold()
