"""One sanitiser for every string that reaches the terminal from data, a server or a task file.

Control characters would let a hostile server or data file drive the user's terminal: `ESC c` resets it, an OSC
sequence retitles the window or writes the clipboard, a C1 CSI (U+009B) starts an escape without ESC. `safe_text`
removes ANSI escape sequences whole, then every remaining C0/C1 control character except newline and tab.
"""

from __future__ import annotations

import re

# CSI (ESC [ or U+009B) parameters, intermediates, final byte; OSC/DCS/PM/APC/SOS strings up to BEL or ST;
# any other two-character ESC sequence
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(s: str) -> str:
    """`s` without ANSI escape sequences and without C0/C1 control characters (newline and tab are kept)."""
    if not isinstance(s, str):
        s = str(s)
    if s.isprintable():  # the common case: nothing to do
        return s
    return _CONTROL.sub("", _ANSI.sub("", s))
