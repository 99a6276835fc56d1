"""`scorecard check`: is tonight's run going to work, and did last night's?

Validates what a run needs without rendering anything: the config, the
database connection and schema, how fresh the data is, and (for monitoring
missed nights) how long ago the last successful run finished.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, type_coerce
from sqlalchemy.types import NullType

from scorecard.config import TableSource
from scorecard.extract.mapping import resolve_all
from scorecard.extract.source import as_datetime, open_engine, read_only_connection
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


def check_source(
    url: str, now: dt.datetime, sources: Mapping[str, TableSource] | None = None
) -> list[Finding]:
    """Check every source exactly as `run` does, then report the newest row of each table.

    A source problem raises SourceError listing every problem (exit 3), as the run would.
    """
    findings = []
    queries = [s.query for s in (sources or {}).values() if s is not None and s.query]
    engine = open_engine(url, read_only=True, source_queries=queries)
    try:
        with read_only_connection(engine):
            findings.append(Finding(True, f"database {redact_url(url)}: reachable"))
        resolved = resolve_all(engine, sources or {})
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
                count, newest = connection.execute(
                    # Untyped: SQLite gives a julianday() number, which no date parser reads.
                    select(func.count(), type_coerce(func.max(rows.c[column]), NullType()))
                ).one()
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


def last_successful_run(out_dir: Path) -> tuple[Path, dt.datetime] | None:
    """The run folder whose manifest says exit 0 and finished last."""
    best: tuple[Path, dt.datetime] | None = None
    for manifest_path in out_dir.glob("*/manifest.json"):
        if manifest_path.parent.is_symlink():
            continue
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
            # The manifest is written last and renamed into place: its time is the run's end.
            finished = dt.datetime.fromtimestamp(manifest_path.stat().st_mtime, dt.UTC)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if manifest.get("exit_code") == 0 and (best is None or finished > best[1]):
            best = (manifest_path.parent, finished)
    return best


def check_last_run(out_dir: Path, max_age_hours: float, now: dt.datetime) -> Finding:
    found = last_successful_run(out_dir)
    if found is None:
        return Finding(False, f"last successful run: none in {out_dir}")
    folder, finished = found
    age = (now.replace(tzinfo=dt.UTC) - finished).total_seconds() / 3600
    text = f"last successful run: {folder.name}, finished {finished:%Y-%m-%d %H:%M} UTC ({age:,.1f} h ago, limit {max_age_hours:g} h)"
    return Finding(age <= max_age_hours, text)
