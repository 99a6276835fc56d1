"""scores.csv, scores.json and data_quality.csv (contract section 5)."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from scorecard.output.files import write_bytes_atomic

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = r"^[=+\-@\t\r]"


def _neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run get a leading apostrophe (OWASP's advice)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """CSV with an empty cell for null, ISO dates, true/false; no cell can be a formula."""
    return _neutralised(frame).write_csv(null_value="", date_format="%Y-%m-%d").encode("utf-8")


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


def write_scores_csv(frame: pl.DataFrame, path: Path) -> None:
    write_bytes_atomic(path, csv_bytes(frame))


def write_scores_json(frame: pl.DataFrame, path: Path) -> None:
    write_bytes_atomic(path, json_bytes(frame))
