"""Database URLs as they may be shown: never with a password, wherever it hides in the URL."""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

REDACTED = "***"
# Query-string keys that carry a credential for some driver (psycopg's password and
# sslpassword, ODBC's PWD, tokens and keys of the warehouse drivers).
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|credential|auth|key", re.I)


class RenamedScheme(ArgumentError):
    """A scheme SQLAlchemy 2 refuses though SQLAlchemy 1 took it; the message says what to write."""


def parse_url(url: str) -> URL:
    """make_url, with a bad port (ValueError) reported like any other unparseable URL, and
    postgres:// (Heroku-style, refused by SQLAlchemy 2) refused with the scheme to write."""
    parsed = _make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        scheme = f"postgresql+{driver or 'psycopg'}"
        fixed = _redacted(parsed.set(drivername=scheme))
        raise RenamedScheme(
            f"SQLAlchemy 2 does not accept {parsed.drivername}://; "
            f"write {scheme}:// in its place ({fixed})"
        )
    return parsed


def _make_url(url: str) -> URL:
    try:
        return make_url(url)
    except ValueError as exc:  # "postgresql://host:abc/db": int("abc")
        raise ArgumentError(f"could not parse the URL: {exc}") from None


def secret_query_keys(url: URL) -> list[str]:
    return [key for key in url.query if _SECRET_KEY.search(key)]


def redact_url(url: str) -> str:
    """The URL as it may appear in logs, messages, `check` and the manifest."""
    try:
        parsed = _make_url(url)
    except ArgumentError:
        return "(unparseable URL)"
    return _redacted(parsed)


def _redacted(parsed: URL) -> str:
    hidden = dict.fromkeys(secret_query_keys(parsed), REDACTED)
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)
