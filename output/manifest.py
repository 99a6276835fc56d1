"""manifest.json: what a run read, made, sent and found (contract section 5), from plain values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from extract.activity import Activity
from scorecard import __version__
from scorecard.config import Config
from scorecard.urls import redact_url
from scoring.periods import Period


def table_counts(data: Activity) -> dict[str, dict[str, Any]]:
    """Rows read, accepted and rejected per table; a table the config declares absent says so."""
    return {
        **{
            name: {"rows_read": c.read, "rows_accepted": c.accepted, "rows_rejected": c.rejected}
            for name, c in data.counts.items()
        },
        **{name: {"absent": True} for name in data.not_measured},
    }


def run_manifest(
    config: Config,
    database_url: str,
    as_of: dt.date,
    periods: Sequence[Period],
    data: Activity,
    artifacts: list[dict[str, Any]],
    emails: list[dict[str, Any]],
    problems: Sequence[str],
    notices: Sequence[str] = (),
    selection: Mapping[str, Any] | None = None,
    documents: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """selection: {"vendors": [...], "portfolio": bool} for a run of some vendors (--vendor).
    documents: per PDF, the as-of day it was rendered with, its render digest and, when an
    earlier run's file was reused, that run's day (reused_from)."""
    return {
        "tool": {"name": "scorecard", "version": __version__},
        "as_of": as_of.isoformat(),
        "period": config.run.period,
        "periods": [
            {
                "label": p.label,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "is_current": p.is_current,
            }
            for p in periods
        ],
        "database": redact_url(database_url),
        "formats": list(config.run.formats),
        **({"selection": dict(selection)} if selection else {}),
        "config_file": config.source_path,
        "config": config.public_dict(),
        "tables": table_counts(data),
        "artifacts": artifacts,
        "emails": emails,
        "exit_code": 1 if problems else 0,
        "problems": list(problems),
        "notices": list(notices),
        **({"documents": {p: dict(r) for p, r in sorted(documents.items())}} if documents else {}),
    }
