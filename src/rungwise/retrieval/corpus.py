"""Load a knowledge corpus: a corpus.jsonl of {"id", "text", "title"?} rows, or a folder of .txt/.md files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rungwise.errors import DataError
from rungwise.task.data import iter_jsonl, read_bounded
from rungwise.textsafe import unstorable_char

FOLDER_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str | None = None


def load_corpus(path: Path | str) -> list[Document]:
    """Documents from a .jsonl file or from every .txt/.md file under a folder (id = relative path)."""
    path = Path(path)
    if path.is_dir():
        return load_folder(path)
    if path.is_file():
        return load_jsonl(path)
    raise DataError(path, "no such file or folder; expected a corpus.jsonl or a folder of .txt/.md files")


def load_jsonl(path: Path | str) -> list[Document]:
    """One document per non-blank line; `id` (string or integer) and `text` are required, `title` optional."""
    path = Path(path)
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for lineno, row in iter_jsonl(path):  # the one reader: bounded lines, UTF-8, storable text, file/line errors
        doc = _parse_row(path, lineno, row)
        if doc.id in seen:
            raise DataError(path, f"duplicate id {doc.id!r} (first on line {seen[doc.id]})", line=lineno, field="id")
        seen[doc.id] = lineno
        docs.append(doc)
    if not docs:
        raise DataError(path, "the corpus is empty")
    return docs


def _parse_row(path: Path, lineno: int, row: dict[str, Any]) -> Document:
    for name in ("id", "text"):
        if name not in row:
            raise DataError(path, "missing required field", line=lineno, field=name)
    doc_id = row["id"]
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise DataError(path, f"must be a string or an integer, got {type(doc_id).__name__}", line=lineno, field="id")
    doc_id = str(doc_id)
    if not doc_id.strip():
        raise DataError(path, "must not be empty", line=lineno, field="id")
    text = row["text"]
    if not isinstance(text, str):
        raise DataError(path, f"must be a string, got {type(text).__name__}", line=lineno, field="text")
    if not text.strip():
        raise DataError(path, "must not be empty", line=lineno, field="text")
    title = row.get("title")
    if title is not None and not isinstance(title, str):
        raise DataError(path, f"must be a string, got {type(title).__name__}", line=lineno, field="title")
    return Document(id=doc_id, text=text, title=title or None)


def load_folder(path: Path | str) -> list[Document]:
    """Every .txt/.md file under `path`, sorted by relative path; blank files are skipped."""
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES)
    docs: list[Document] = []
    for file in files:
        try:
            text = read_bounded(file).decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(file, f"not UTF-8 text ({err.reason} at byte {err.start})") from err
        if unstorable_char(text) is not None:
            raise DataError(file, "holds a NUL character; no store can keep it. Is it a text file?")
        if text.strip():
            docs.append(Document(id=file.relative_to(root).as_posix(), text=text))
    if not docs:
        raise DataError(root, "no non-empty .txt or .md files in this folder")
    return docs
