"""The second hardening pass, class by class (docs/hardening.md has the table): secrets in store URLs, text no
store can hold, unbounded input lines, strict JSON, well-formed JUnit, output files written whole with their own
exit code, and task files that cannot mean what they say."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import pytest

from rungwise.distillation.inputs import read_unlabelled
from rungwise.engine.job import ClimbOptions, climb
from rungwise.errors import DataError, OutputError, StoreError, TaskError
from rungwise.models.fake import FakeModel
from rungwise.models.urls import redact_store_url, remember_url_secrets
from rungwise.outputs import strict_json, write_output
from rungwise.redaction import redact, remember_secret
from rungwise.store import Store
from rungwise.task.data import MAX_LINE_BYTES, iter_jsonl
from rungwise.task.spec import Task
from rungwise.textsafe import file_stem, safe_text, storable, xml_text

from helpers import LABEL_EVAL, LABEL_TOML, LABEL_TOML_EXACT, LABEL_TRAIN, write_task


def _cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rungwise", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache"), **(env or {})},
                          cwd=tmp_path)


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


# -- 2. secrets in store URLs --------------------------------------------------------------------------------

PASSWORDS = ["p?ss=word#frag", "pa ss word", "pa'ss\"word", "p@ss:word/x", "pässwörd%41", "plain-secret"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_every_part_of_a_store_urls_userinfo_is_redacted(password: str) -> None:
    url = f"postgresql://qmuser:{password}@127.0.0.1:1/db?sslmode=disable"
    shown = redact_store_url(url)
    assert shown == "postgresql://***@127.0.0.1:1/db?sslmode=***", shown
    # in running text a URL's end cannot be known (a space in the password): the secrets rungwise remembers mask it
    remember_url_secrets(url)
    echoed = safe_text(f"could not connect to {url} (user qmuser, password {password})")
    assert "qmuser" not in echoed and password not in echoed, echoed


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_postgres_store_that_cannot_connect_never_prints_its_password(password: str) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://qmuser:{password}@127.0.0.1:1/db"
    with pytest.raises(StoreError) as err:
        Store(url)
    message = str(err.value)
    for part in (password, *password.split()):
        if len(part) >= 4:
            assert part not in message, message
    assert "postgresql://***@127.0.0.1:1/db" in message


def test_a_remembered_secret_is_masked_in_every_form_it_is_echoed() -> None:
    secret = 'sk-hardening-"quoted"/slash'
    remember_secret(secret)
    echoed = json.dumps({"authorization": f"Bearer {secret}"})
    assert "hardening" not in redact(echoed) and "Bearer ***" in redact(echoed)
    assert "hardening" not in safe_text(f"url?key={quote(secret, safe='')} and {secret}")
    remember_secret("abc")  # too short to mask everywhere: ordinary text is left alone
    assert redact("abcdef") == "abcdef"


# -- 3. text no store can hold, in input files -----------------------------------------------------------------

@pytest.mark.parametrize("row, field", [
    ('{"input": "bill\\ud800ing", "target": "billing"}', "input"),
    ('{"input": "billing", "target": "billing", "note": {"deep": ["\\udfff"]}}', "note.deep"),
    ('{"input": "nul\\u0000here", "target": "billing"}', "input"),
])
def test_a_surrogate_or_nul_in_eval_jsonl_names_file_line_and_field(tmp_path: Path, row: str, field: str) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    with (folder / "eval.jsonl").open("a", encoding="utf-8") as f:
        f.write(row + "\n")
    with pytest.raises(DataError) as err:
        Task.load(folder)
    assert (err.value.path.name, err.value.line, err.value.field) == ("eval.jsonl", 4, field)
    proc = _cli(tmp_path, "climb", str(folder), "--model", "fake", "--store", str(tmp_path / "s.db"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "eval.jsonl, line 4" in proc.stderr and "no store can keep it" in proc.stderr, proc.stderr


def test_a_surrogate_in_unlabelled_jsonl_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "unlabelled.jsonl"
    path.write_text('{"input": "fine"}\n{"input": "x\\ud83d"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="lone surrogate") as err:
        read_unlabelled(path)
    assert (err.value.line, err.value.field) == (2, "input")


def test_storable_replaces_what_no_store_holds_and_keeps_the_rest() -> None:
    assert storable("a\ud800b\x00c") == "a\ufffdb\ufffdc"
    assert storable("tab\tline\n é 中 😀") == "tab\tline\n é 中 😀"


# -- 5. unbounded reads of input files --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["eval.jsonl", "corpus.jsonl"])
def test_a_newline_free_file_is_refused_without_reading_it_whole(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with path.open("wb") as f:
        for _ in range(24):  # 24 MiB and not one newline
            f.write(b"x" * (1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="longer than") as err:
            list(iter_jsonl(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.line == 1
    assert peak < 3 * MAX_LINE_BYTES, peak  # one line's bound, not the file


def test_the_last_allowed_line_length_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    row = json.dumps({"input": "y" * (MAX_LINE_BYTES - 40), "target": "billing"})
    path.write_text(row + "\n" + row, encoding="utf-8")  # the last line has no newline
    assert [n for n, _ in iter_jsonl(path)] == [1, 2]


# -- 6. strict JSON, JUnit, output files -----------------------------------------------------------------------

def test_strict_json_has_no_nan_or_infinity() -> None:
    text = strict_json({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": {"d": 2}})
    assert _strict(text) == {"a": None, "b": [None, None, 1.5], "c": {"d": 2}}


@pytest.mark.parametrize("rows, prices", [(8, ""), (1, ""), (3, "[costs]\ninput_price_per_million = 1e308\n"
                                                               "output_price_per_million = 1e308\ncalls_per_month = 1000000000\n")])
def test_climb_json_is_strict_on_small_evals_and_huge_prices(tmp_path: Path, rows: int, prices: str) -> None:
    eval_rows = [{"input": f"question {i}", "target": "billing"} for i in range(rows)]
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT + prices, LABEL_TRAIN, eval_rows)
    proc = _cli(tmp_path, "climb", str(folder), "--model", "fake", "--store", str(tmp_path / "s.db"), "--json",
                "--rungs", "baseline,prompt")
    assert proc.returncode == 0, proc.stderr
    data = _strict(proc.stdout)
    assert isinstance(data, dict) and data["variants"]


def test_junit_is_well_formed_whatever_the_task_name_holds(tmp_path: Path) -> None:
    assert xml_text("t\x00a\x01s\x1bk\ud800\ufffe") == "task"
    hostile = 'name = "ro\\u0000u\\u001bt\\u0007e\\u0001"'
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT.replace('name = "route"', hostile), LABEL_TRAIN, LABEL_EVAL)
    db = str(tmp_path / "s.db")
    base = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db))
    assert _cli(tmp_path, "baseline", "set", str(folder), base.run_id, "--store", db).returncode == 0
    junit = tmp_path / "gate.xml"
    proc = _cli(tmp_path, "gate", str(folder), "--model", "fake", "--store", db, "--allow-underpowered",
                "--junit", str(junit))
    assert proc.returncode == 0, proc.stderr
    suite = ElementTree.parse(junit).getroot()  # well-formed: ElementTree refuses a document that is not
    assert suite.get("name") == "rungwise gate ro\ufffdute" and suite.get("tests") == "1"


def test_an_output_file_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "gate.xml"
    write_output(target, "<old/>")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="the disk is full") as err:
        write_output(target, ["<new>", "</new>"], what="the JUnit file")
    assert err.value.exit_code == 3 and "the JUnit file" in str(err.value)
    assert target.read_text() == "<old/>"  # the old file stays, whole
    assert [p.name for p in target.parent.iterdir()] == ["gate.xml"]  # no temporary file left behind


def test_an_unwritable_junit_path_is_one_line_and_exit_3(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, LABEL_TRAIN, LABEL_EVAL)
    db = str(tmp_path / "s.db")
    base = climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=db))
    assert _cli(tmp_path, "baseline", "set", str(folder), base.run_id, "--store", db).returncode == 0
    (tmp_path / "afile").write_text("x")
    proc = _cli(tmp_path, "gate", str(folder), "--model", "fake", "--store", db, "--allow-underpowered",
                "--junit", str(tmp_path / "afile" / "gate.xml"))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert "Cannot write the JUnit file" in proc.stderr and "a part of its folder is a file" in proc.stderr


# -- 7. task files that cannot mean what they say ------------------------------------------------------------

@pytest.mark.parametrize("labels, says", [
    ('["Yes", "yes", "no"]', "differ only in case"),
    ('["Yes", "YES ", "no"]', "differ only in case"),
    ('["yes", "yes?", "no"]', "differ only in case"),
    ('["yes", "", "no"]', "is empty"),
    ('["yes", "...", "no"]', "is empty"),
    ('["yes", "two\\nlines", "no"]', "line break"),
    ('["yes", "bell\\u0007", "no"]', "control character"),
    ('["yes", "yes"]', "listed twice"),
])
def test_a_label_set_that_cannot_be_scored_is_refused_with_file_line_and_field(tmp_path: Path, labels: str,
                                                                                says: str) -> None:
    toml = LABEL_TOML.replace('["billing", "technical", "sales"]', labels)
    folder = write_task(tmp_path / "t", toml, None, [{"input": "q", "target": "no"}])
    with pytest.raises(DataError, match=says) as err:
        Task.load(folder)
    assert (err.value.path.name, err.value.field, err.value.line) == ("task.toml", "output.labels", 7)
    proc = _cli(tmp_path, "check", str(folder))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and says in proc.stderr, proc.stderr


def test_a_labels_file_that_cannot_be_scored_is_refused(tmp_path: Path) -> None:
    toml = LABEL_TOML.replace('labels = ["billing", "technical", "sales"]', 'labels_file = "labels.json"')
    folder = write_task(tmp_path / "t", toml, None, [{"input": "q", "target": "Yes"}],
                        extra={"labels.json": '["Yes", "yes"]'})
    with pytest.raises(DataError, match="differ only in case") as err:
        Task.load(folder)
    assert err.value.path.name == "labels.json"


def test_a_task_name_never_chooses_where_a_file_is_written(tmp_path: Path) -> None:
    assert file_stem("../../x") == "x" and file_stem("..") == "task" and file_stem("a/b c") == "a-b-c"
    folder = write_task(tmp_path / "deep" / "t", LABEL_TOML_EXACT.replace('name = "route"', 'name = "../../escaped"'),
                        LABEL_TRAIN, LABEL_EVAL)
    out = tmp_path / "deep" / "t" / "out"
    proc = _cli(tmp_path, "export-finetune", str(folder), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["escaped.openai-chat.jsonl", "escaped.prompt-completion.jsonl"]
    assert not list(tmp_path.rglob("escaped.*.jsonl"))[2:]  # nothing written outside --out
    assert Task.load(folder).file_stem == "escaped"


def test_an_eval_left_empty_by_leakage_drop_is_an_error_not_nan(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "t", LABEL_TOML_EXACT, LABEL_EVAL, LABEL_EVAL)  # every eval row is in train
    with pytest.raises(TaskError, match="leaves nothing to score"):
        climb(folder, FakeModel(), ClimbOptions(rungs=["baseline"], store_path=tmp_path / "s.db", leakage="drop"))
    proc = _cli(tmp_path, "climb", str(folder), "--model", "fake", "--store", str(tmp_path / "s.db"),
                "--leakage", "drop")
    assert proc.returncode == 2 and "nan" not in proc.stdout + proc.stderr and "leaves nothing" in proc.stderr


@pytest.mark.parametrize("name", ["task.toml", "labels.json"])
def test_a_huge_task_file_is_refused_without_reading_it_whole(tmp_path: Path, name: str) -> None:
    toml = LABEL_TOML.replace('labels = ["billing", "technical", "sales"]', 'labels_file = "labels.json"')
    folder = write_task(tmp_path / "t", toml, None, LABEL_EVAL, extra={"labels.json": '["billing", "technical", "sales"]'})
    with (folder / name).open("ab") as f:
        for _ in range(70):  # 70 MiB of one comment line / trailing spaces
            f.write((b"#" if name == "task.toml" else b" ") * (1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="larger than") as err:
            Task.load(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.path.name == name and peak < 66 * 1024 * 1024, peak


def test_an_output_to_a_device_or_through_a_symlink_is_written_not_replaced(tmp_path: Path) -> None:
    write_output("/dev/null", "<report/>")
    assert Path("/dev/null").is_char_device()
    real = tmp_path / "real.xml"
    real.write_text("old")
    link = tmp_path / "link.xml"
    link.symlink_to(real)
    write_output(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_an_output_gets_the_mode_a_plain_write_would_give_it(tmp_path: Path) -> None:
    fresh = write_output(tmp_path / "report.html", "<p>x</p>")
    old = os.umask(0)
    os.umask(old)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~old  # not mkstemp's private 0600
    fresh.chmod(0o640)
    write_output(fresh, "<p>y</p>")
    assert fresh.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
