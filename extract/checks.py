"""What `scorecard check` asks of the source: is tonight's run going to be able to read it?

The database connection and every source the run reads, checked as the run checks
them, and how fresh each table's data is. (How long ago the last run succeeded is
the output folder's to say: output/run_folder.py.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import NullType

from extract.mapping import resolve_all
from extract.source import as_datetime, read_only_connection, source_engine, source_error
from scorecard.config import Config, TableSource
from scorecard.urls import redact_url

# The column that tells how recent each table's data is.
FRESHNESS = {
    "work_items": "received_at",
    "requests": "opened_at",
    "charges": "service_end",
}


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str
    warning: bool = False
    """Worth a look, but not a failure (for example no requests tracked at all)."""


def check_source(url: str, now: dt.datetime, config: Config) -> list[Finding]:
    """Check every source exactly as `run` does, then report the newest row of each table.

    Through the run's own engine: read-only, with its statement timeout and DuckDB's memory
    cap, so a check cannot hang or use more than the night would. A source problem raises
    SourceError listing every problem (exit 3), as the run would.
    """
    findings = []
    # The keys are canonical table names (checked by the config).
    sources: Mapping[str, TableSource] = config.source  # type: ignore[assignment]
    engine = source_engine(url, config)
    try:
        with read_only_connection(engine):
            findings.append(Finding(True, f"database {redact_url(url)}: reachable"))
        resolved = resolve_all(engine, sources)
        findings.append(
            Finding(True, "sources: every table, query and column the run reads is readable")
        )
        with read_only_connection(engine) as connection:
            for table, column in FRESHNESS.items():
                found = resolved[table]
                if found.select is None:
                    findings.append(
                        Finding(True, f"{table}: absent (not tracked): not measured", warning=True)
                    )
                    continue
                rows = found.select.subquery("src")
                try:
                    count, newest = connection.execute(
                        # Untyped: SQLite gives a julianday() number, which no date parser reads.
                        select(func.count(), type_coerce(func.max(rows.c[column]), NullType()))
                    ).one()
                except SQLAlchemyError as exc:
                    # As the run says it: one line, exit 3 (a timeout, a lost connection...).
                    raise source_error(
                        exc, f"reading {table!r}", f"cannot read table {table!r}"
                    ) from None
                latest = as_datetime(newest)
                if not count or latest is None:
                    # Without work items there is nothing to score; the other tables may be untracked.
                    if table == "work_items":
                        findings.append(Finding(False, f"{table}: no rows: nothing to score"))
                    else:
                        findings.append(Finding(True, f"{table}: no rows", warning=True))
                    continue
                age = (now - latest).total_seconds() / 3600
                findings.append(
                    Finding(
                        True,
                        f"{table}: {count:,} rows, newest {column} {latest:%Y-%m-%d %H:%M} ({age:,.0f} h ago)",
                    )
                )
    finally:
        engine.dispose()
    return findings
