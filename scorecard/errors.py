"""One exception hierarchy. Each error carries the exit code of contract section 5.

Only the CLI turns these into a one-line message and an exit code; anything
that is not a ScorecardError is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(word: str, options: Iterable[str]) -> str | None:
    """The option spelled most like `word` (difflib's ratio of at least 0.6), for "did you
    mean" in a message; None when nothing is close. Case is ignored, the option's kept."""
    spelled = {option.lower(): option for option in options}
    close = difflib.get_close_matches(word.lower(), list(spelled), n=1)
    return spelled[close[0]] if close else None


class ScorecardError(Exception):
    """Base of every error a user can act on."""

    exit_code = 1


class ConfigError(ScorecardError):
    """The config file or a command-line option is wrong (exit 2)."""

    exit_code = 2


class SourceError(ScorecardError):
    """The data source cannot be read: unreachable, missing table or column (exit 3)."""

    exit_code = 3


class LockError(ScorecardError):
    """Another run holds the lock on the output folder (exit 4)."""

    exit_code = 4


class OutputError(ScorecardError):
    """An output could not be written or failed its check after writing (exit 1)."""

    exit_code = 1


class TemplateFailure(OutputError):
    """A report template does not render (a company's template with an error): every document
    would fail alike, so the run stops, as for any other config fault (exit 1)."""


class StaleDataError(ScorecardError):
    """The newest work item is older than run.max_data_age_hours at the end of the as-of day:
    the feed is broken. Nothing is published or sent, `latest` stays (exit 1)."""

    exit_code = 1
