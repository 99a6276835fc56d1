"""scores.csv, scores.json and data_quality.csv (contract section 5)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl

from reports.tabular import csv_bytes
from scoring.credits import ServiceCredits, claims

__all__ = ["csv_bytes", "json_bytes", "run_tables"]


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_bytes(frame: pl.DataFrame) -> bytes:
    """The same rows as the CSV: a list of objects, null for null."""
    rows = [{k: _json_value(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    return (json.dumps(rows, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def run_tables(
    table: pl.DataFrame,
    data_quality: pl.DataFrame,
    formats: Sequence[str],
    credits: ServiceCredits | None = None,
    currency: str = "",
) -> dict[str, bytes]:
    """The run's tables by file name: scores in the formats asked for, and always what was
    rejected (a run must say so, whatever the formats) and, with contracts, the credits (the
    money owed is not a format choice)."""
    files = {}
    if "csv" in formats:
        files["scores.csv"] = csv_bytes(table)
    if "json" in formats:
        files["scores.json"] = json_bytes(table)
    if credits is not None:
        files["service_credits.csv"] = csv_bytes(credits.levels)
        if "json" in formats:
            files["service_credits.json"] = json_bytes(credits.levels)
        # For accounts payable: what to claim, vendor by month (contract section 12).
        files["credit_claims.csv"] = csv_bytes(claims(credits, currency))
        if credits.evidence is not None:
            files["evidence.csv"] = csv_bytes(credits.evidence)
            if "json" in formats:
                files["evidence.json"] = json_bytes(credits.evidence)
    files["data_quality.csv"] = csv_bytes(data_quality)
    return files
