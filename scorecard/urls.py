"""Database URLs as they may be shown: never with a password, wherever it hides in the URL."""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

REDACTED = "***"
# Query-string keys that carry a credential for some driver (psycopg's password and
# sslpassword, ODBC's PWD, tokens and keys of the warehouse drivers).
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|credential|auth|key", re.I)


def parse_url(url: str) -> URL:
    """make_url, with a bad port (ValueError) reported like any other unparseable URL."""
    try:
        return make_url(url)
    except ValueError as exc:  # "postgresql://host:abc/db": int("abc")
        raise ArgumentError(f"could not parse the URL: {exc}") from None


def secret_query_keys(url: URL) -> list[str]:
    return [key for key in url.query if _SECRET_KEY.search(key)]


def redact_url(url: str) -> str:
    """The URL as it may appear in logs, messages, `check` and the manifest."""
    try:
        parsed = parse_url(url)
    except ArgumentError:
        return "(unparseable URL)"
    hidden = dict.fromkeys(secret_query_keys(parsed), REDACTED)
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)
