"""One sanitiser for every string that reaches the terminal from data, a server or a task file.

Control characters would let a hostile server or data file drive the user's terminal: `ESC c` resets it, an OSC
sequence retitles the window or writes the clipboard, a C1 CSI (U+009B) starts an escape without ESC. `safe_text`
removes ANSI escape sequences whole, then every remaining C0/C1 control character except newline and tab.

The same module holds the other rules for text from outside (answers, inputs, names): `storable` before a store,
`xml_text` before an XML document, `file_stem` before a name becomes part of a path.
"""

from __future__ import annotations

import re

from rungwise.redaction import redact

# CSI (ESC [ or U+009B) parameters, intermediates, final byte; OSC/DCS/PM/APC/SOS strings up to BEL or ST;
# any other two-character ESC sequence
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def safe_text(s: str) -> str:
    """`s` without ANSI escape sequences, C0/C1 control characters (newline and tab are kept) and lone surrogates
    (which no terminal can encode), and with every secret rungwise knows masked (`rungwise.redaction`)."""
    if not isinstance(s, str):
        s = str(s)
    s = redact(s)
    if s.isprintable():  # the common case: nothing to do
        return s
    return _CONTROL.sub("", _ANSI.sub("", _SURROGATE.sub("\ufffd", s)))


# -- text from outside, before it reaches a store, a file name or an XML document ------------------------------

#: a lone UTF-16 surrogate (JSON's "\ud800" decodes to one) or NUL: neither SQLite's UTF-8 nor PostgreSQL's text holds them
_UNSTORABLE = re.compile(r"[\ud800-\udfff\x00]")
#: characters XML 1.0 does not allow in a document, even escaped
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: what a file name built from a name keeps; every other run of characters becomes one "-"
_NOT_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def storable(s: str) -> str:
    """`s` with every lone surrogate and NUL replaced by U+FFFD: text any store (and UTF-8) can hold."""
    return _UNSTORABLE.sub("\ufffd", s) if _UNSTORABLE.search(s) else s


def unstorable_char(s: str) -> str | None:
    """The first character of `s` a store cannot hold (a lone surrogate or NUL), as an escape, or None."""
    m = _UNSTORABLE.search(s)
    return None if m is None else f"\\u{ord(m.group()):04x}"


def xml_text(s: str) -> str:
    """`s` without the characters XML 1.0 forbids (control characters, lone surrogates, U+FFFE/U+FFFF)."""
    return _NOT_XML.sub("", s)


def file_stem(name: str, default: str = "task") -> str:
    """`name` as one safe file-name component: letters, digits, '.', '_' and '-' only, no leading dot, at most 80
    characters. A task name like `../../x` becomes `x`: a name never chooses where a file is written."""
    stem = _NOT_FILENAME.sub("-", name).strip(".-")[:80].strip(".-")
    return stem or default
