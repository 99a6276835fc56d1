"""CSV as every file of the run writes it: the tables, and the evidence a scorecard carries."""

from __future__ import annotations

import polars as pl

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
