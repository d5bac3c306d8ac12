from __future__ import annotations

import json
from pathlib import Path

import pytest

from rungwise.errors import DataError
from rungwise.retrieval.corpus import Document, load_corpus


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_rows_become_documents(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"id": "a", "text": "Alpha text.", "title": "Alpha"}),
            "",
            json.dumps({"id": 7, "text": "Seven."}),
        ],
    )
    assert load_corpus(path) == [Document("a", "Alpha text.", "Alpha"), Document("7", "Seven.", None)]


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "corpus.jsonl", [json.dumps({"id": "a", "text": "ok"}), '{"id": "b", "text": '])
    with pytest.raises(DataError) as info:
        load_corpus(path)
    assert info.value.line == 2
    assert str(path) in str(info.value)
    assert "line 2" in str(info.value)
    assert "not valid JSON" in str(info.value)


def test_missing_text_names_file_line_and_field(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "corpus.jsonl",
        [json.dumps({"id": "a", "text": "ok"}), json.dumps({"id": "b", "text": "ok"}), json.dumps({"id": "c"})],
    )
    with pytest.raises(DataError) as info:
        load_corpus(path)
    err = info.value
    assert (err.path, err.line, err.field) == (path, 3, "text")
    assert str(err) == f"{path}, line 3, field 'text': missing required field"


@pytest.mark.parametrize(
    ("row", "field", "fragment"),
    [
        ({"text": "no id"}, "id", "missing"),
        ({"id": None, "text": "x"}, "id", "string or an integer"),
        ({"id": "a", "text": 3}, "text", "must be a string"),
        ({"id": "a", "text": "   "}, "text", "must not be empty"),
        ({"id": "a", "text": "x", "title": ["t"]}, "title", "must be a string"),
    ],
)
def test_bad_fields_are_named(tmp_path: Path, row: dict, field: str, fragment: str) -> None:
    path = write_lines(tmp_path / "corpus.jsonl", [json.dumps(row)])
    with pytest.raises(DataError, match=fragment) as info:
        load_corpus(path)
    assert (info.value.line, info.value.field) == (1, field)


def test_non_object_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "corpus.jsonl", ['["id", "text"]'])
    with pytest.raises(DataError, match="expected a JSON object") as info:
        load_corpus(path)
    assert info.value.line == 1


def test_duplicate_id_points_at_both_lines(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "corpus.jsonl", [json.dumps({"id": "a", "text": "one"}), json.dumps({"id": "a", "text": "two"})]
    )
    with pytest.raises(DataError, match="first on line 1") as info:
        load_corpus(path)
    assert (info.value.line, info.value.field) == (2, "id")


def test_empty_file_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="empty"):
        load_corpus(write_lines(tmp_path / "corpus.jsonl", ["", "  "]))
    with pytest.raises(DataError, match="no such file"):
        load_corpus(tmp_path / "absent.jsonl")


def test_folder_of_text_files(tmp_path: Path) -> None:
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "cards.md").write_text("# Cards\nHow to order a card.", encoding="utf-8")
    (tmp_path / "fees.txt").write_text("Fees are low.", encoding="utf-8")
    (tmp_path / "blank.txt").write_text("\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    docs = load_corpus(tmp_path)
    assert [d.id for d in docs] == ["fees.txt", "guides/cards.md"]
    assert docs[1].text == "# Cards\nHow to order a card."


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no non-empty"):
        load_corpus(tmp_path)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="not UTF-8") as info:
        load_corpus(tmp_path)
    assert info.value.path == tmp_path / "bad.txt"
