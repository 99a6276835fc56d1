"""Read the canonical tables from any SQLAlchemy database into polars frames.

Reading is read-only and fails early and clearly (SourceError, exit 3) when
the database cannot be reached or a table or column is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

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


def _connect_arguments(url: str, statement_timeout_seconds: float | None) -> dict[str, object]:
    """PostgreSQL drivers take the timeout and a name (shown to DBAs) at connect time."""
    backend = make_url(url).get_backend_name()
    if backend == "postgresql" and make_url(url).get_driver_name() in ("psycopg", "psycopg2"):
        options = (
            f"-c statement_timeout={int(statement_timeout_seconds * 1000)}"
            if statement_timeout_seconds
            else ""
        )
        return {"application_name": "scorecard", **({"options": options} if options else {})}
    return {}


def _limit_statements_on_mysql(engine: Engine, seconds: float) -> None:
    """MariaDB: max_statement_time (seconds); MySQL: max_execution_time (milliseconds)."""

    @event.listens_for(engine, "connect")
    def set_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT VERSION()")
            version = str(cursor.fetchone()[0])
            if "mariadb" in version.lower():
                cursor.execute(f"SET SESSION max_statement_time = {float(seconds)}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {int(seconds * 1000)}")
        finally:
            cursor.close()


def open_engine(url: str, statement_timeout_seconds: float | None = None) -> Engine:
    """An engine whose statements give up after the timeout, so a stuck query cannot hang the night."""
    try:
        arguments = _connect_arguments(url, statement_timeout_seconds)
        engine = create_engine(url, connect_args=arguments)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"database URL {redact_url(url)}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"database URL {redact_url(url)} needs the Python driver {exc.name!r}: "
            "install it (for example pip install 'scorecard[postgresql]')"
        ) from None
    if statement_timeout_seconds and engine.dialect.name in ("mysql", "mariadb"):
        _limit_statements_on_mysql(engine, statement_timeout_seconds)
    return engine


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
    views = set(inspector.get_view_names())
    for name, table in TABLES.items():
        # The canonical tables may be views (contract section 1).
        if name not in views and not inspector.has_table(name):
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
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise ConnectionLost(
                f"the connection dropped while reading {name!r}: {_first_line(exc)}"
            ) from None
        raise SourceError(f"cannot read table {name!r}: {_first_line(exc)}") from None
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot read table {name!r}: {_first_line(exc)}") from None
    except (ValueError, TypeError) as exc:
        raise SourceError(f"table {name!r} holds a value of the wrong type: {exc}") from None
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical")


class ConnectionLost(SourceError):
    """The server closed the connection mid-way (restart, failover, a DBA's kill)."""


def read_source(engine: Engine, progress: Callable[[str], None] = lambda _: None) -> SourceData:
    """All four tables in one read-only transaction; retried once if the connection drops."""
    for attempt in (1, 2):
        try:
            with read_only_connection(engine) as connection:
                try:
                    check_tables(connection)
                except DBAPIError as exc:
                    if exc.connection_invalidated:
                        raise ConnectionLost(
                            f"the connection dropped while checking the schema: {_first_line(exc)}"
                        ) from None
                    raise SourceError(f"cannot inspect the database: {_first_line(exc)}") from None
                frames = {name: read_table(connection, name) for name in TABLES}
            return SourceData(**frames)
        except ConnectionLost as lost:
            if attempt == 2:
                raise SourceError(f"{lost} (after one retry)") from None
            progress(f"{lost}; retrying the extraction once")
            engine.dispose()  # drop pooled connections to the old server session
    raise AssertionError("unreachable")
