"""The frame every HTML page of rungwise shares: one self-contained file, inline CSS and script, data embedded
as JSON, and a Content-Security-Policy that allows no remote load and only the page's own script and style
(by their sha256 hashes). Every string put into markup goes through `esc`."""

from __future__ import annotations

import base64
import hashlib
import html
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from rungwise.outputs import write_output
from rungwise.record.stored import dumps_for_script


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    return resources.files("rungwise").joinpath("templates", name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def content_security_policy(script: str, style: str) -> str:
    return (f"default-src 'none'; script-src '{_hash(script)}'; style-src '{_hash(style)}'; img-src 'none'; "
            "connect-src 'none'; font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")


def page(title: str, body: str, data: dict[str, Any]) -> str:
    """A whole HTML document: `body` is trusted markup built with `esc`; `data` is embedded for the script."""
    script, style = asset("report.js"), asset("report.css")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{esc(content_security_policy(script, style))}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{esc(title)}</title><style>{style}</style></head>\n<body><main>\n{body}\n</main>\n"
        f"<script type=\"application/json\" id=\"report-data\">{dumps_for_script(data)}</script>\n"
        f"<script>{script}</script>\n</body></html>\n"
    )


def write_page(text: str, path: str | Path) -> Path:
    """Write a rendered page to `path` atomically (folders are created); a path that cannot be written is one
    OutputError line (`rungwise.outputs`)."""
    return write_output(path, text, what="the report")


def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:.{digits}f}%"


def num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def money(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:,.6f}" if abs(x) < 0.01 else f"{x:,.2f}"


def table(headers: list[str], rows: list[list[str]], *, numeric: set[int] | frozenset[int] = frozenset(),
          cls: str = "") -> str:
    """A table of already escaped cells; columns in `numeric` are right-aligned."""
    head = "".join(f"<th class=\"num\">{h}</th>" if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>" for r in rows)
    return f"<div class=\"scroll\"><table class=\"{esc(cls)}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
