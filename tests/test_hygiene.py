"""Secrets in endpoint URLs are refused before anything is stored or echoed; terminal escapes from data and
servers never reach the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rungwise.errors import ModelUnavailable
from rungwise.models.registry import resolve_model
from rungwise.models.urls import redact_url
from rungwise.textsafe import safe_text

from helpers import LABEL_TOML_EXACT, write_task

SECRET = "s3cr3t-" + "7c1f" * 6
TOML = LABEL_TOML_EXACT
TRAIN = [{"input": f"example number {w}", "target": "billing"} for w in ("one", "two", "three")]
EVAL = [{"input": f"question {i}", "target": "billing"} for i in range(2)]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNGWISE_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "rungwise", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)


@pytest.mark.parametrize("url", [
    f"http://user:{SECRET}@127.0.0.1:8000/v1",
    f"http://user:{SECRET}@127.0.0.1:99999/v1",
    *(f"http://127.0.0.1:8000/v1?{name}={SECRET}" for name in ("key", "api-key", "api_key", "apikey", "token",
                                                               "access_token")),
    f"http://127.0.0.1:99999/v1?key={SECRET}",
    f"http://127.0.0.1:8000/v1#{SECRET}",
])
@pytest.mark.parametrize("model_name", [None, "m"])
def test_a_secret_in_the_url_is_refused_and_never_echoed_or_stored(tmp_path: Path, url: str,
                                                                   model_name: str | None) -> None:
    with pytest.raises(ModelUnavailable) as err:
        resolve_model(url, model_name=model_name)
    assert SECRET not in str(err.value)
    folder = write_task(tmp_path / "t", TOML, TRAIN, EVAL)
    args = ["climb", str(folder), "--model", url, "--store", str(tmp_path / "s.db"), "--rungs", "baseline"]
    proc = _cli(tmp_path, *args, *(["--model-name", model_name] if model_name else []))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_redact_url_hides_userinfo_and_query_values() -> None:
    text = redact_url(f"see http://u:{SECRET}@h:1/v1?api-key={SECRET}&x=1 and https://ok.example/v1")
    assert SECRET not in text and "http://***@h:1/v1?api-key=***&x=***" in text and "https://ok.example/v1" in text


def test_safe_text_drops_escapes_and_controls_keeps_text() -> None:
    assert safe_text("a\x1bcb\x1b[31mred\x1b[0m\x1b]0;title\x07\x9b2Jz\x00\r\x7f") == "abredz"
    assert safe_text("tab\tline\nnext é 中") == "tab\tline\nnext é 中"


def test_hostile_task_names_and_outputs_never_reach_the_terminal(tmp_path: Path) -> None:
    hostile = "\x1bc\x1b]0;pwned\x07evil\x1b[2J"
    toml = TOML.replace('name = "route"', f'name = "{hostile.encode("unicode_escape").decode()}"').replace(
        "\\x1b", "\\u001b").replace("\\x07", "\\u0007")
    folder = write_task(tmp_path / "t", toml, TRAIN, EVAL)
    db = str(tmp_path / "s.db")
    proc = _cli(tmp_path, "climb", str(folder), "--model", "fake", "--store", db, "--rungs", "baseline")
    assert proc.returncode == 0, proc.stderr
    runs = _cli(tmp_path, "runs", "--store", db)
    assert "evil" in runs.stdout
    for text in (proc.stdout, proc.stderr, runs.stdout, runs.stderr):
        assert "\x1b" not in text and "\x07" not in text
    missing = _cli(tmp_path, "compare", "\x1bc\x1b[31mnope", "other", "--store", db)
    assert missing.returncode == 2 and "\x1b" not in missing.stderr
