"""CSV as every file of the run writes it: the tables, and the evidence a scorecard carries."""

from __future__ import annotations

import polars as pl

from scoring.money import WRITTEN_MONEY_PLACES

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


def _money_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Money columns as text with exactly their written decimals (`WRITTEN_MONEY_PLACES`):
    13797.00, not 13797.0. Each value was rounded to those decimals exactly (scoring.money),
    so the float is the decimal's nearest and prints as it."""
    money = [
        (name, WRITTEN_MONEY_PLACES[name])
        for name, dtype in frame.schema.items()
        if name in WRITTEN_MONEY_PLACES and dtype.is_float()
    ]
    return frame.with_columns(
        pl.Series(
            name,
            [None if v is None else f"{v + 0.0:.{places}f}" for v in frame.get_column(name)],
            pl.String,
        )
        for name, places in money
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """CSV with an empty cell for null, ISO dates, true/false, money with its written decimals;
    no cell can be a formula."""
    return (
        _money_text(_neutralised(frame))
        .write_csv(null_value="", date_format="%Y-%m-%d")
        .encode("utf-8")
    )
