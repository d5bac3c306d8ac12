"""One redaction of every secret rungwise knows, on every line it prints or stores.

rungwise learns a secret when it reads one: an API key from the environment variable the user named, the userinfo
of a store URL. `remember_secret` keeps it (with the forms it takes once quoted in JSON or a URL) for the life of
the process; `redact` replaces each with `***`. `textsafe.safe_text`, which every string passes on its way to the
terminal, calls `redact`, and so does the Runner before it stores a server's error text: a server that echoes the
`Authorization` header, or a driver that quotes a password, never gets the secret printed.

Secrets shorter than MIN_LENGTH characters are not kept: masking them everywhere would garble ordinary text (the
places that know such a secret structurally, a URL's userinfo, still redact it there).
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def remember_secret(value: str | None) -> None:
    """Mask `value` (and its JSON-escaped and URL-quoted forms) in everything `redact` sees from now on."""
    global _secrets
    if not value or len(value) < MIN_LENGTH:
        return
    forms = {value, json.dumps(value)[1:-1], quote(value, safe=""), quote(value)}
    with _lock:
        known = set(_secrets) | {f for f in forms if len(f) >= MIN_LENGTH}
        _secrets = tuple(sorted(known, key=len, reverse=True))  # longest first: no secret is left half-masked


def redact(text: str) -> str:
    """`text` with every remembered secret replaced by `***`."""
    secrets = _secrets
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text
