"""Read the canonical tables from any SQLAlchemy database into polars frames.

Reading is read-only and fails early and clearly (SourceError, exit 3) when
the database cannot be reached or a table or column is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, Engine, create_engine, inspect, select
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from scorecard.errors import ConfigError, SourceError
from scorecard.extract.schema import TABLES

# The polars type of every canonical column; IDs and enums stay text.
POLARS_SCHEMA: dict[str, dict[str, pl.DataType]] = {
    "vendors": {
        "vendor_id": pl.String(),
        "name": pl.String(),
        "sourcing": pl.String(),
        "country": pl.String(),
        "currency": pl.String(),
        "manager_email": pl.String(),
        "contract_start": pl.Date(),
        "contract_end": pl.Date(),
    },
    "work_items": {
        "work_item_id": pl.String(),
        "vendor_id": pl.String(),
        "process": pl.String(),
        "received_at": pl.Datetime("us"),
        "due_at": pl.Datetime("us"),
        "completed_at": pl.Datetime("us"),
        "units": pl.Int64(),
        "qa_checked_units": pl.Int64(),
        "defects": pl.Int64(),
        "reworked": pl.Boolean(),
    },
    "requests": {
        "request_id": pl.String(),
        "vendor_id": pl.String(),
        "process": pl.String(),
        "priority": pl.String(),
        "opened_at": pl.Datetime("us"),
        "first_response_at": pl.Datetime("us"),
        "resolved_at": pl.Datetime("us"),
    },
    "charges": {
        "charge_id": pl.String(),
        "vendor_id": pl.String(),
        "process": pl.String(),
        "service_start": pl.Date(),
        "service_end": pl.Date(),
        "amount": pl.Float64(),
        "currency": pl.String(),
        "kind": pl.String(),
    },
}

_FETCH_ROWS = 50_000


@dataclass(frozen=True)
class SourceData:
    """The four canonical tables as read, before validation."""

    vendors: pl.DataFrame
    work_items: pl.DataFrame
    requests: pl.DataFrame
    charges: pl.DataFrame

    def table(self, name: str) -> pl.DataFrame:
        frame: pl.DataFrame = getattr(self, name)
        return frame


def redact_url(url: str) -> str:
    """The URL as it may appear in logs and the manifest: never with its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def open_engine(url: str) -> Engine:
    try:
        return create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"database URL {redact_url(url)}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"database URL {redact_url(url)} needs the Python driver {exc.name!r}: "
            "install it (for example pip install 'scorecard[postgresql]')"
        ) from None


@contextmanager
def read_only_connection(engine: Engine) -> Iterator[Connection]:
    """A connection that is rolled back at the end, whatever happened: the job never writes."""
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        raise SourceError(
            f"cannot connect to {redact_url(str(engine.url.render_as_string()))}: "
            f"{_first_line(exc)}"
        ) from None
    try:
        with connection.begin() as transaction:
            yield connection
            transaction.rollback()
    finally:
        connection.close()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def check_tables(connection: Connection) -> None:
    """Every canonical table and column exists, or SourceError names the first missing one."""
    inspector = inspect(connection)
    for name, table in TABLES.items():
        if not inspector.has_table(name):
            raise SourceError(
                f"table {name!r} is missing from the database (run scorecard init-db?)"
            )
        present = {column["name"].lower() for column in inspector.get_columns(name)}
        for column in table.columns:
            if column.name not in present:
                raise SourceError(f"column {name}.{column.name} is missing from the database")


def _normalise_timestamps(frame: pl.DataFrame) -> pl.DataFrame:
    """Aware timestamps become naive UTC; naive ones are already read as UTC."""
    fixes = [
        pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    ]
    return frame.with_columns(fixes) if fixes else frame


def read_table(connection: Connection, name: str) -> pl.DataFrame:
    table = TABLES[name]
    schema = POLARS_SCHEMA[name]
    statement = select(*table.columns)
    parts: list[pl.DataFrame] = []
    try:
        result = connection.execution_options(yield_per=_FETCH_ROWS).execute(statement)
        for rows in result.partitions():
            part = pl.DataFrame(
                [tuple(row) for row in rows], schema=list(schema), orient="row", strict=False
            )
            parts.append(_normalise_timestamps(part).cast(schema))  # type: ignore[arg-type]
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot read table {name!r}: {_first_line(exc)}") from None
    except (ValueError, TypeError) as exc:
        raise SourceError(f"table {name!r} holds a value of the wrong type: {exc}") from None
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical")


def read_source(engine: Engine) -> SourceData:
    with read_only_connection(engine) as connection:
        check_tables(connection)
        frames = {name: read_table(connection, name) for name in TABLES}
    return SourceData(**frames)
