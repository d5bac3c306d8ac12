"""Endpoint URLs without secrets: refuse credentials written into a URL, and redact URLs in messages.

A URL is kept in the model's fingerprint, so in the store, the reports and every error message: a password in
its userinfo or a key in its query string would be written wherever the URL is. They are refused before anything
is stored or printed, and every message that shows a URL shows it through `redact_url`.
"""

from __future__ import annotations

import re
from contextlib import suppress
from urllib.parse import parse_qsl, unquote, urlsplit

from rungwise.redaction import remember_secret

#: query parameters that carry a credential (compared in lower case, with - and _ removed)
SECRET_PARAMS = frozenset({"key", "apikey", "token", "accesstoken", "authtoken", "auth", "secret", "password",
                           "pass", "pwd", "sig", "signature", "clientsecret", "sessiontoken", "bearer", "code"})

#: a URL in running text; its userinfo runs to the last "@" before a "/" or a space, so that a password holding
#: "?", "#" or a quote (which end the userinfo for a URL parser, not for libpq) is redacted whole
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s@/]*@)?([^\s?#'\"]*)(\?[^\s#'\"]*)?(#[^\s'\"]*)?")


def redact_url(text: str) -> str:
    """`text` with every URL's userinfo replaced by `***@` and every query value by `***` (fragments dropped)."""

    def one(m: re.Match[str]) -> str:
        scheme, userinfo, rest, query, fragment = m.groups()
        out = scheme + ("***@" if userinfo else "") + rest
        if query:
            names = [part.split("=", 1)[0] for part in query[1:].split("&") if part]
            out += "?" + "&".join(f"{name}=***" for name in names)
        if fragment:
            out += "#***"
        return out

    return _URL.sub(one, text)


def url_userinfo(url: str) -> tuple[str, list[str]] | None:
    """A store URL's userinfo and its parts (user, password; as written and percent-decoded), or None. The userinfo
    runs from "://" to the last "@": a password may hold "?", "#", "/", spaces or quotes."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    info = rest.rsplit("@", 1)[0]
    user, _, password = info.partition(":")
    parts = [p for p in {user, password, unquote(user), unquote(password)} if p]
    return info, parts


def redact_store_url(url: str) -> str:
    """A store URL for messages: its whole userinfo as `***`, its query values redacted."""
    found = url_userinfo(url)
    if found is None:
        return redact_url(url)
    head, _, rest = url.partition("://")
    return head + "://***@" + redact_url("x://" + rest.rsplit("@", 1)[1]).removeprefix("x://")


def remember_url_secrets(url: str) -> None:
    """Mask every part of `url`'s userinfo (and any query value) in everything rungwise prints or stores."""
    found = url_userinfo(url)
    if found is not None:
        info, parts = found
        for secret in (info, *parts):
            remember_secret(secret)
    with suppress(ValueError):
        for _, value in parse_qsl(urlsplit(url).query, keep_blank_values=False):
            remember_secret(value)


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def secret_in_url(url: str) -> str | None:
    """Why `url` must not be used as an endpoint (credentials or a query string in it), or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # the URL parser that follows says what is wrong, through redact_url
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return ("The endpoint URL holds credentials (user:password@). Remove them from the URL and pass the key "
                "through an environment variable instead: --api-key-env NAME.")
    if parts.query or parts.fragment:
        names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
        if any(_norm(n) in SECRET_PARAMS or "key" in _norm(n) or "token" in _norm(n) for n in names):
            return (f"The endpoint URL carries a credential in its query string ({redact_url(url)}). Remove it and "
                    "pass the key through an environment variable instead: --api-key-env NAME.")
        return (f"The endpoint URL has a query string or fragment ({redact_url(url)}): rungwise appends "
                "/chat/completions to a base URL, so pass one such as http://localhost:8000/v1.")
    return None
