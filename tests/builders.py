"""Small, explicit datasets for tests, and loading them into a real database."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert

from extract.activity import Activity, read_activity
from scorecard.config import Config, config_from_mapping
from scorecard.schema import TABLES
from scoring.periods import Period, window_of
from scoring.scored import score

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def vendor(vendor_id: str, sourcing: str = "offshore", **overrides: Any) -> dict[str, Any]:
    return {
        "vendor_id": vendor_id, "name": f"Vendor {vendor_id}", "sourcing": sourcing, "country": "PH",
        "currency": "EUR", "manager_email": None, "contract_start": None, "contract_end": None,
    } | overrides  # fmt: skip


def item(work_item_id: str, vendor_id: str, received: str, due: str | None, completed: str | None,
         units: int = 1, qa: int = 0, defects: int = 0, reworked: bool = False,
         process: str = "support") -> dict[str, Any]:  # fmt: skip
    return {
        "work_item_id": work_item_id, "vendor_id": vendor_id, "process": process,
        "received_at": ts(received), "due_at": ts(due) if due else None,
        "completed_at": ts(completed) if completed else None, "units": units,
        "qa_checked_units": qa, "defects": defects, "reworked": reworked,
    }  # fmt: skip


def request(request_id: str, vendor_id: str, priority: str, opened: str, response: str | None,
            process: str = "support") -> dict[str, Any]:  # fmt: skip
    return {
        "request_id": request_id, "vendor_id": vendor_id, "process": process, "priority": priority,
        "opened_at": ts(opened), "first_response_at": ts(response) if response else None,
        "resolved_at": None,
    }  # fmt: skip


def charge(charge_id: str, vendor_id: str, start: str, end: str, amount: float,
           currency: str = "EUR", kind: str = "fee", process: str = "support") -> dict[str, Any]:  # fmt: skip
    return {
        "charge_id": charge_id, "vendor_id": vendor_id, "process": process,
        "service_start": day(start), "service_end": day(end), "amount": amount,
        "currency": currency, "kind": kind,
    }  # fmt: skip


def extracted_from(url: str, periods: Sequence[Period], config: Config | None = None) -> Activity:
    """What the extract stage makes of a real database, for these periods."""
    config = config or make_config()
    return read_activity(url, config, window_of(periods, config.scoring.median_turnaround))


def extracted(
    rows: Rows, periods: Sequence[Period], config: Config | None = None, primary_keys: bool = True
) -> Activity:
    """The rows loaded into a fresh SQLite database, then extracted as a run would."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'activity.db'}"
        load(url, rows, primary_keys)
        return extracted_from(url, periods, config)


def scored(rows: Rows, periods: Sequence[Period], config: Config | None = None) -> pl.DataFrame:
    """The score table a run would make from these rows."""
    config = config or make_config()
    return score(extracted(rows, periods, config), periods, config).table


def make_config(**sections: Any) -> Config:
    base: dict[str, Any] = {"currency": {"base": "EUR", "rates": {"USD": 0.9}}}
    return config_from_mapping(base | sections, "test")


def load(url: str, rows: Rows, primary_keys: bool = True) -> None:
    """Create the canonical tables in a real database and insert the rows.

    primary_keys=False builds the tables as a loose export would be: no keys
    and wide text columns, so duplicated IDs and malformed codes can exist.
    """
    engine = create_engine(url)
    metadata = MetaData()
    tables = {
        name: Table(
            name,
            metadata,
            *[
                Column(
                    c.name,
                    c.type if primary_keys or not isinstance(c.type, String) else String(200),
                    primary_key=primary_keys and c.primary_key,
                )
                for c in table.columns
            ],
        )
        for name, table in TABLES.items()
    }
    metadata.create_all(engine)
    with engine.begin() as connection:
        for name, table_rows in rows.items():
            if table_rows:
                connection.execute(insert(tables[name]), [dict(r) for r in table_rows])
    engine.dispose()


def _polars_type(column: Any) -> Any:
    from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric

    if isinstance(column.type, DateTime):
        return pl.Datetime("us", "UTC")  # Spark reads it as TIMESTAMP, in its UTC session
    if isinstance(column.type, Date):
        return pl.Date
    if isinstance(column.type, Boolean):
        return pl.Boolean
    if isinstance(column.type, Integer):
        return pl.Int64
    if isinstance(column.type, Numeric):
        return pl.Float64
    return pl.String


def load_parquet_tables(url: str, rows: Rows, folder: Path) -> None:
    """The canonical tables as Parquet files under `folder`, registered as tables of the
    Spark database in `url` (how data usually reaches Spark: files, not INSERTs)."""
    engine = create_engine(url)
    database = engine.url.database
    with engine.connect() as connection:
        for name, table in TABLES.items():
            schema = {c.name: _polars_type(c) for c in table.columns}
            table_rows = [dict(r) for r in rows.get(name, [])]
            # Columns beyond the canonical ones (the demo's csat and contacts): integers.
            extra = [c for c in (table_rows[0] if table_rows else {}) if c not in schema]
            schema |= dict.fromkeys(extra, pl.Int64)
            frame = pl.DataFrame(table_rows, schema=schema, orient="row")
            (folder / name).mkdir(parents=True, exist_ok=True)
            frame.write_parquet(folder / name / "part-0.parquet")
            connection.exec_driver_sql(
                f"CREATE TABLE {database}.{name} USING parquet LOCATION '{folder / name}'"
            )
    engine.dispose()


def rows_in(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every canonical table's rows in a database (to load the same world into another one)."""
    from sqlalchemy import select, type_coerce

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            # Every column, the canonical ones typed as the schema says and any beyond them
            # (columns a declared KPI reads) as the database has them.
            found: dict[str, list[dict[str, Any]]] = {}
            for name, table in TABLES.items():
                reflected = Table(name, MetaData(), autoload_with=connection)
                extra = [c for c in reflected.columns if c.name not in table.columns]
                canonical = [
                    type_coerce(reflected.c[c.name], c.type).label(c.name) for c in table.columns
                ]
                query = select(*canonical, *extra)
                found[name] = [dict(row) for row in connection.execute(query).mappings()]
            return found
    finally:
        engine.dispose()
