"""What a run tells the person or the log collector watching it.

On a terminal: readable lines on stderr and a progress bar while scorecards
render. Anywhere else (cron, CI, a log shipper), or with --log-format json: one
JSON object per line. Secrets never reach it: URLs are redacted before they
are logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
FORMAT_CHOICES = ("auto", "text", "json")
_BAR = 28


class RunLog:
    def __init__(self, log_format: LogFormat = "text", stream: TextIO | None = None) -> None:
        self.format = log_format
        self._stream = stream
        self._bar_open = False

    @property
    def stream(self) -> TextIO:
        # Looked up on each use: sys.stderr may be replaced after this log was made.
        return self._stream if self._stream is not None else sys.stderr

    @classmethod
    def choose(cls, choice: str) -> RunLog:
        """auto: text on a terminal, JSON lines otherwise."""
        if choice == "auto":
            choice = "text" if sys.stderr.isatty() else "json"
        return cls("json" if choice == "json" else "text")

    def _json(self, level: str, message: str, **fields: Any) -> None:
        record = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "level": level,
                  "message": message, **fields}  # fmt: skip
        print(json.dumps(record, ensure_ascii=False, default=str), file=self.stream, flush=True)

    def _close_bar(self) -> None:
        if self._bar_open:
            print(file=self.stream)
            self._bar_open = False

    def info(self, message: str) -> None:
        if self.format == "json":
            self._json("info", message)
        else:
            self._close_bar()
            print(f"scorecard: {message}", file=self.stream, flush=True)

    def problem(self, message: str) -> None:
        if self.format == "json":
            self._json("warning", message)
        else:
            self._close_bar()
            print(f"scorecard: problem: {message}", file=self.stream, flush=True)

    def error(self, message: str, exit_code: int) -> None:
        if self.format == "json":
            self._json("error", message, exit_code=exit_code)
        else:
            self._close_bar()
            print(f"scorecard: error: {message}", file=self.stream, flush=True)

    def library(self, level: str, name: str, message: str) -> None:
        """A record a library logged, or a Python warning, tagged with where it came from."""
        if self.format == "json":
            self._json("warning" if level == "warning" else "error", message, logger=name)
        else:
            self._close_bar()
            print(f"scorecard: {level} from {name}: {message}", file=self.stream, flush=True)

    def tick(self, done: int, total: int) -> None:
        """A progress bar on a terminal; nothing elsewhere (the step's info line says it)."""
        if self.format != "text" or not self.stream.isatty() or total <= 0:
            return
        filled = round(_BAR * done / total)
        bar = "#" * filled + "." * (_BAR - filled)
        print(
            f"\rscorecard: rendering [{bar}] {done}/{total}", end="", file=self.stream, flush=True
        )
        self._bar_open = done < total
        if done >= total:
            print(file=self.stream, flush=True)

    def summary(self, text: str, **fields: Any) -> str:
        """The run's last line, for stdout: plain text, or one JSON object."""
        if self.format == "json":
            return json.dumps({"message": text, **fields}, ensure_ascii=False, default=str)
        return text


class _LibraryRecords(logging.Handler):
    """Warnings and errors that libraries log (WeasyPrint, SQLAlchemy, fontTools, ...) and
    Python warnings, written through the run's log in its format, not bare on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.target = RunLog("text")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.name == "py.warnings":  # "path:line: Category: text\n  source line"
                message = message.strip().splitlines()[0]
            self.target.library(record.levelname.lower(), record.name, message)
        except Exception:  # a log line must never break the run
            self.handleError(record)


_library_records = _LibraryRecords()


def route_library_logs(log: RunLog) -> None:
    """Send library log records (WARNING and above) and Python warnings to `log`, once per process."""
    _library_records.target = log
    root = logging.getLogger()
    if _library_records not in root.handlers:
        root.addHandler(_library_records)
        # Without this the root's WARNING default would still apply; be explicit.
        root.setLevel(min(root.level or logging.WARNING, logging.WARNING))
    logging.captureWarnings(True)
