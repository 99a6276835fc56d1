"""Read the canonical tables from any SQLAlchemy database into polars frames.

Reading is read-only and fails early and clearly (SourceError, exit 3) when
the database cannot be reached or a table or column is missing.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from extract.dialects import PINNED_AT, TIME_TRAVEL_DIALECTS, raw_text, strptime_utc
from extract.readonly import (
    NotReadOnly,
    duckdb_read_only_config,
    folders_read,
    limit_duckdb,
)
from scorecard.config import Config, TableSource
from scorecard.errors import ConfigError, SourceError
from scorecard.schema import ID_COLUMN
from scorecard.urls import parse_url, redact_url

if TYPE_CHECKING:
    import polars as pl


def polars_schema(name: str) -> dict[str, pl.DataType]:
    """The polars types of the small tables, which are read as rows (work items and requests
    arrive summed, see summaries.py); IDs and enums stay text. A function, so that importing
    this module (as `scorecard check` does) does not import polars."""
    import polars as pl

    return {
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
    }[name]


_UNIX_EPOCH_JULIAN_DAY = 2440587.5


def as_datetime(value: object) -> dt.datetime | None:
    """A time as a database returns it, as a naive UTC datetime (SQLite: a julianday() number)."""
    if isinstance(value, float):
        return dt.datetime(1970, 1, 1) + dt.timedelta(days=value - _UNIX_EPOCH_JULIAN_DAY)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str) and value:
        return dt.datetime.fromisoformat(value)
    return None


_FETCH_ROWS = 50_000


def duckdb_spill_folder() -> str:
    """Where DuckDB spills: a private folder (mode 0700) of this process, removed at its exit.

    DuckDB's default is next to the database file, whose folder may be read-only (then a
    spilling query fails) or readable by others (who could read the rows spilled). DuckDB
    makes the folder returned inside it, and removes it when the database closes.
    """
    remove_dead_spill_folders()
    parent = tempfile.mkdtemp(prefix=f"{_SPILL_PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    return os.path.join(parent, "spill")


_SPILL_PREFIX = "scorecard-duckdb-"
_SPILL_FOLDER = re.compile(re.escape(_SPILL_PREFIX) + r"(\d+)-[^/]+")


def remove_dead_spill_folders(folder: str | None = None) -> list[str]:
    """The job's spill folders left by runs that were killed (no atexit ran), removed: only
    folders named by the job (scorecard-duckdb-<pid>-...), owned by this user, whose process
    is gone. A folder of a live process, or of another user, is never touched."""
    folder = folder or tempfile.gettempdir()
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _SPILL_FOLDER.fullmatch(entry.name)
        if found is None or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        if _alive(int(found.group(1))):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or no such number: not ours to judge
    return True


def _connect_arguments(
    url: str, statement_timeout_seconds: float | None, read_only: bool
) -> dict[str, object]:
    """PostgreSQL drivers take the timeout and a name (shown to DBAs) at connect time;
    DuckDB has no read-only transaction, only read-only connections."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        if not read_only:
            return {}
        # An in-memory database holds nothing to protect and cannot open read-only; what
        # it reads through a query (read_csv, read_parquet) are files it never writes, and
        # external access is off but for the folders such queries name (extract/readonly.py).
        in_memory = parsed.database in (None, "", ":memory:")
        # Its memory is capped once connected (limit_duckdb), by its number of threads.
        config = duckdb_read_only_config(duckdb_spill_folder())
        settings: dict[str, object] = {"config": config}
        return settings if in_memory else {"read_only": True, **settings}
    if backend == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2"):
        options = (
            f"-c statement_timeout={int(statement_timeout_seconds * 1000)}"
            if statement_timeout_seconds
            else ""
        )
        # psycopg 3: every statement prepared, so a call can never run more than one.
        single = (
            {"prepare_threshold": 0} if read_only and parsed.get_driver_name() == "psycopg" else {}
        )
        return {
            "application_name": "scorecard",
            **({"options": options} if options else {}),
            **single,
        }
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


def _limit_statements_on_spark(engine: Engine, seconds: float) -> None:
    """Spark's Thrift server cancels a statement of this session running longer (Spark 3.1+)."""

    @event.listens_for(engine, "connect")
    def set_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET spark.sql.thriftServer.queryTimeout = {max(1, round(seconds))}s")
        finally:
            cursor.close()


def _limit_statements_on_warehouse(engine: Engine, seconds: float) -> None:
    """Snowflake and Databricks SQL cancel a statement of this session running longer."""
    statement = {
        "snowflake": f"ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = {max(1, round(seconds))}",
        "databricks": f"SET STATEMENT_TIMEOUT = {max(1, round(seconds))}",
    }[engine.dialect.name]

    @event.listens_for(engine, "connect")
    def set_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()


def _bigquery_capped(url: str, maximum_bytes_billed: int | None) -> str:
    """A BigQuery URL whose queries fail, unbilled, past the cap: the smaller of the URL's own
    `maximum_bytes_billed` and the config's."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "bigquery" or maximum_bytes_billed is None:
        return url
    given = parsed.query.get("maximum_bytes_billed")
    cap = min(int(str(given)), maximum_bytes_billed) if given else maximum_bytes_billed
    return parsed.update_query_dict({"maximum_bytes_billed": str(cap)}).render_as_string(
        hide_password=False
    )


def open_engine(
    url: str,
    statement_timeout_seconds: float | None = None,
    read_only: bool = False,
    source_queries: Sequence[str] = (),
    duckdb_memory_mb: int | None = None,
    bigquery_maximum_bytes_billed: int | None = None,
    time_travel: bool = False,
) -> Engine:
    """An engine whose statements give up after the timeout, so a stuck query cannot hang the night.

    read_only: for the job's reads (engines that can only be read-only per connection).
    source_queries: the configured source queries (DuckDB may read the folders they name).
    duckdb_memory_mb: DuckDB's memory cap, if not its default (`duckdb_memory_limit_mb`).
    bigquery_maximum_bytes_billed: BigQuery's cap on the bytes a query may bill.
    time_travel: Snowflake, BigQuery, Databricks: read every table as of the moment the
    job's connection opened (`read_only_connection`).
    """
    try:
        folders = folders_read(list(source_queries)) if read_only and "duckdb" in url else []
    except NotReadOnly as exc:
        raise ConfigError(f"a source query: {exc}") from None
    try:
        parse_url(url)  # postgres:// named with the scheme to write instead
        url = _bigquery_capped(url, bigquery_maximum_bytes_billed)
        arguments = _connect_arguments(url, statement_timeout_seconds, read_only)
        engine = create_engine(url, connect_args=arguments)
    except NoSuchModuleError:
        scheme = make_url(url).drivername
        raise ConfigError(
            f"database URL {redact_url(url)}: no SQLAlchemy dialect for {scheme}:// is "
            f"installed ({_install_hint(scheme.partition('+')[0])})"
        ) from None
    except ArgumentError as exc:
        raise ConfigError(f"database URL {redact_url(url)}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"database URL {redact_url(url)} needs the Python driver {exc.name!r}: "
            f"install it beside scorecard{_driver_extra(exc.name)}"
        ) from None
    if statement_timeout_seconds and engine.dialect.name in ("mysql", "mariadb"):
        _limit_statements_on_mysql(engine, statement_timeout_seconds)
    if statement_timeout_seconds and engine.dialect.name == "hive":
        _limit_statements_on_spark(engine, statement_timeout_seconds)
    if statement_timeout_seconds and engine.dialect.name in ("snowflake", "databricks"):
        _limit_statements_on_warehouse(engine, statement_timeout_seconds)
    if time_travel and engine.dialect.name in TIME_TRAVEL_DIALECTS:
        engine.update_execution_options(scorecard_time_travel=True)
    if read_only and engine.dialect.name == "duckdb":
        limit_duckdb(engine, folders, duckdb_memory_mb)
    if read_only and (path := _sqlite_file(url)) is not None:
        _open_sqlite_read_only(engine, url, path)
    return engine


# The extras of vendor-scorecard that install a dialect SQLAlchemy lacks, or a driver.
_EXTRA_OF_BACKEND = {"duckdb": "duckdb", "hive": "spark", "snowflake": "snowflake",
                     "bigquery": "bigquery", "databricks": "databricks", "redshift": "redshift",
                     "awsathena": "athena"}  # fmt: skip
_EXTRA_OF_MODULE = {"psycopg": "postgresql", "pymysql": "mysql", "duckdb": "duckdb",
                    "duckdb_engine": "duckdb", "pyhive": "spark", "snowflake": "snowflake",
                    "google": "bigquery", "databricks": "databricks", "redshift_connector": "redshift",
                    "pyathena": "athena"}  # fmt: skip


def _install_hint(backend: str) -> str:
    """What to do when SQLAlchemy knows no dialect of that name."""
    if backend in _EXTRA_OF_BACKEND:
        return f"pip install 'vendor-scorecard[{_EXTRA_OF_BACKEND[backend]}]'"
    return (
        "check the scheme, e.g. postgresql+psycopg://, mysql+pymysql://, sqlite:///, duckdb:///, "
        "or install the package that provides the dialect"
    )


def _driver_extra(module: str | None) -> str:
    extra = _EXTRA_OF_MODULE.get((module or "").partition(".")[0])
    # Extras of a checkout or a built wheel: the distribution is not on PyPI (README, install).
    if extra:
        return f" (its extra [{extra}] brings it)"
    return " (its extras [postgresql], [mysql], [duckdb] and [spark] bring the drivers it is tested with)"


def _sqlite_file(url: str) -> str | None:
    """The file a SQLite URL names, absolute; None for an in-memory database, or a URI filename
    (`?uri=true`: its own mode= says how it opens), or a driver other than Python's sqlite3."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.get_driver_name() != "pysqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.query.get("uri", "")).lower() in ("true", "1"):
        return None
    return os.path.abspath(parsed.database)


def _open_sqlite_read_only(engine: Engine, url: str, path: str) -> None:
    """The job's SQLite file opened read-only (mode=ro): a mistyped path is an error naming it,
    where sqlite3 would have made an empty file there and the run then reported every table
    missing. `init-db`, `demo-data` and `load-csv` open without read_only: they may create it."""
    if not os.path.exists(path):
        raise SourceError(
            f"{redact_url(url)}: no such file {path} "
            "(check the path; `scorecard init-db` creates the tables in a new database)"
        )

    @event.listens_for(engine, "do_connect")
    def read_only_file(
        _dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        # The URI form percent-encodes what would otherwise read as its query (?, #, %).
        cargs[0] = f"{Path(path).as_uri()}?mode=ro"
        cparams["uri"] = True


@event.listens_for(Engine, "connect")
def _add_sqlite_strptime(dbapi_connection: Any, _record: Any) -> None:
    """SQLite has no strptime: text times with a format are read by this function (dialects.py).

    On every engine, so that any SQLite connection (tests, tools) runs the job's queries.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("scorecard_strptime", 2, strptime_utc, deterministic=True)


def _prepare_session(connection: Connection, snapshot: str | None = None) -> None:
    """Ask the database itself to refuse writes, to read one snapshot, and to work in UTC.

    One snapshot: the extraction is several statements (vendors, charges, the
    summing queries), and a load committing between two of them must not
    make the figures disagree with each other. UTC, because days and windows
    are computed inside the database: a column with a time zone (timestamptz)
    must be cut into days the same way on every server, whatever its zone.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
        # A damaged or truncated file fails here, in one line, not in the first catalog call.
        connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
        # Python's sqlite3 starts no transaction for a SELECT: without one, each
        # statement would see the file as it is at that moment.
        connection.exec_driver_sql("BEGIN")
    elif dialect == "postgresql":
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if snapshot is not None:
            # Another transaction's snapshot: this one then sees exactly what that one sees.
            connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        connection.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        # The planner cannot estimate how few groups the summaries make (a day
        # computed from a timestamp looks as distinct as the timestamp), so it
        # would sort every row to group them, or walk an index to sort fewer.
        # Hashing is right: the groups are few (measured by `make bench`).
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
        connection.exec_driver_sql("SET LOCAL enable_incremental_sort = off")
    elif dialect == "duckdb":
        # Else TIMESTAMPTZ values are cut into days in the machine's zone. The job's read-only
        # connections get it at connect time, before their configuration is locked.
        zone = connection.exec_driver_sql("SELECT current_setting('TimeZone')").scalar()
        if zone != "UTC":
            connection.exec_driver_sql("SET TimeZone = 'UTC'")
    elif dialect in ("mysql", "mariadb"):
        connection.exec_driver_sql("SET SESSION time_zone = '+00:00'")
        # For the next transaction, which the first SELECT starts (and snapshots).
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    elif dialect == "hive":
        # Spark SQL: no transactions, so neither read-only nor one snapshot (docs/engines.md, "Apache Spark SQL").
        connection.exec_driver_sql("SET spark.sql.session.timeZone = UTC")
    elif dialect == "databricks":
        # Databricks SQL: Spark's time zone setting, in its SQL spelling.
        connection.exec_driver_sql("SET TIME ZONE 'UTC'")
    elif dialect == "snowflake":
        # Snowflake reads each statement as of its own start (READ COMMITTED); no read-only
        # transaction: the role must only read (docs/engines.md, "Warehouses").
        connection.exec_driver_sql("ALTER SESSION SET TIMEZONE = 'UTC'")


# What `export_snapshot` gives on SQLite: no name, since the state is held by the lock.
SQLITE_SHARED_LOCK = "sqlite: the shared lock of the first connection"


def export_snapshot(connection: Connection) -> str | None:
    """A name other connections can use to read exactly what this transaction reads, or None
    when the database cannot promise that (then the work stays on this one connection).

    PostgreSQL: the transaction's exported snapshot. SQLite with a rollback journal (its
    default): this transaction holds the file's SHARED lock from its first read to its end,
    and no write can commit while any reader holds it, so a connection that starts reading
    while this one is open sees the same file. In WAL mode a write can commit between two
    readers' starts, and an in-memory database is a different one per connection: None.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return str(connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
    if dialect != "sqlite":
        return None
    files = [
        row[2] for row in connection.exec_driver_sql("PRAGMA database_list") if row[1] == "main"
    ]
    journal = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
    if not files or not files[0] or journal == "wal":
        return None
    # A read, so the SHARED lock is held from here on (BEGIN alone takes no lock).
    connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
    return SQLITE_SHARED_LOCK


@contextmanager
def read_only_connection(engine: Engine, snapshot: str | None = None) -> Iterator[Connection]:
    """A read-only transaction, rolled back at the end whatever happened: the job never writes.

    snapshot: from `export_snapshot`, to read exactly what another open transaction reads.
    """
    url = redact_url(engine.url.render_as_string(hide_password=False))
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        raise SourceError(f"cannot connect to {url}: {first_line(exc)}") from None
    except TypeError as exc:  # the driver refused an option of the URL's query string
        unknown = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
        if unknown is None:
            raise
        raise ConfigError(
            f"database URL {url}: the driver knows no option {unknown.group(1)!r} "
            "(check its spelling after the ?)"
        ) from None
    pinned = None
    try:
        with connection.begin() as transaction:
            try:
                _prepare_session(connection, snapshot)
                if engine.get_execution_options().get("scorecard_time_travel"):
                    pinned = PINNED_AT.set(_pin_to_now(connection))
            except SQLAlchemyError as exc:
                raise SourceError(f"cannot read {url}: {_damaged(exc)}") from None
            yield connection
            transaction.rollback()
    finally:
        if pinned is not None:
            PINNED_AT.reset(pinned)
        connection.close()


def _pin_to_now(connection: Connection) -> dt.datetime:
    """The warehouse's own clock now, in UTC: every table read on this connection is read as
    of it (time travel, extract/dialects.py). SQLAlchemy's statement cache is off on the
    connection, since the moment is written into each statement's SQL."""
    connection.execution_options(compiled_cache=None)
    now = connection.exec_driver_sql("SELECT CURRENT_TIMESTAMP()").scalar_one()
    pinned = as_datetime(now)
    if pinned is None:
        raise SourceError(f"the database's clock gave {now!r}, not a time, to pin the run to")
    return pinned


def _damaged(exc: SQLAlchemyError) -> str:
    """The driver's line, and for SQLite what it means: the file is not a whole database."""
    message = first_line(exc)
    if message in ("file is not a database", "database disk image is malformed"):
        return f"{message} (the file is damaged, truncated or not a SQLite database)"
    return message


def first_line(exc: BaseException) -> str:
    """The driver's own message, first line only: what a user can act on."""
    text = _spark_message(exc) or str(getattr(exc, "orig", None) or exc)
    line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "time travel" in line.lower():  # a view, or a table kept without its history
        line += " (set [database] time_travel = false to read it as it is)"
    return line


def _spark_message(exc: BaseException) -> str | None:
    """PyHive's errors carry the Thrift server's whole response: its message is in there."""
    arguments = getattr(getattr(exc, "orig", None), "args", None) or [None]
    message = getattr(getattr(arguments[0], "status", None), "errorMessage", None)
    return message if isinstance(message, str) and message.strip() else None


def split_name(qualified: str) -> tuple[str | None, str]:
    """("schema", "name") of "schema.name"; (None, "name") of "name"."""
    schema, _, name = qualified.rpartition(".")
    return (schema or None), name


class ConnectionLost(SourceError):
    """The server closed the connection mid-way (restart, failover, a DBA's kill)."""


def source_error(exc: SQLAlchemyError, while_doing: str, failure: str) -> SourceError:
    """A dropped connection (worth one retry) or any other failure to read (exit 3)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return ConnectionLost(f"the connection dropped while {while_doing}: {first_line(exc)}")
    message = first_line(exc)
    if "Out of Memory Error" in message:  # DuckDB, over its cap (a large source without a key)
        message += " (raise [database] duckdb_memory_mb, or give the table a primary key)"
    return SourceError(f"{failure}: {message}")


def read_table(
    connection: Connection,
    name: str,
    statement: Select[Any],
    raw_columns: Sequence[str] = (),
    where: Callable[[Any], Any] | None = None,
) -> pl.DataFrame:
    """Rows of a small table (vendors, charges), filtered by where(columns) if given.

    statement: the canonical SELECT (extract/mapping.py); raw_columns: the
    `_raw_<column>` texts it also returns, for columns parsed from text.
    """
    import polars as pl

    schema = {**polars_schema(name), **{f"_raw_{c}": pl.String() for c in raw_columns}}
    source = statement.subquery("src")
    raw = {f"_raw_{c}" for c in raw_columns}
    statement = select(
        *[
            raw_text(column).label(column.name) if column.name in raw else column
            for column in source.c
        ]
    )
    if where is not None:
        statement = statement.where(where(source.c))
    parts: list[pl.DataFrame] = []
    try:
        # On the statement, not the connection: the summaries after it must not stream
        # (a PostgreSQL cursor would lose parallel query).
        result = connection.execute(statement.execution_options(yield_per=_FETCH_ROWS))
        names = list(result.keys())
        for rows in result.partitions():
            columns = zip(names, zip(*rows, strict=True), strict=True)
            part = pl.DataFrame(
                {name: _without_decimals(values) for name, values in columns}, strict=False
            )
            parts.append(_dates_read(part, schema).select(list(schema)).cast(schema))  # type: ignore[arg-type]
    except SQLAlchemyError as exc:
        raise source_error(exc, f"reading {name!r}", f"cannot read table {name!r}") from None
    except (ValueError, TypeError) as exc:
        raise SourceError(f"table {name!r} holds a value of the wrong type: {exc}") from None
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, how="vertical")


def _without_decimals(values: Sequence[object]) -> list[object]:
    """Decimals (NUMERIC from DuckDB or PostgreSQL) as floats, the type they are read as:
    polars imports numpy to build a Decimal column, a tenth of a second of each run."""
    return [float(v) if isinstance(v, Decimal) else v for v in values]


def _dates_read(part: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Dates a driver hands over as ISO text (PyHive: Spark's Thrift server sends text)."""
    import polars as pl

    texts = [
        name
        for name, kind in schema.items()
        if kind == pl.Date() and part.schema.get(name) == pl.String()
    ]
    return part.with_columns(pl.col(name).str.to_date("%Y-%m-%d") for name in texts)


def ids_enforced_unique(engine: Engine, name: str, spec: TableSource | None) -> bool:
    """The database itself keeps the table's IDs unique: a one-column primary key or unique key.

    Then no row can be a duplicate and the duplicate check, the one rule that
    needs a second pass over the rows, is skipped. Views and queries have no
    keys, so they are always checked, and so is any table of an engine whose
    catalog cannot be read. Asked on a connection of its own, because a failed
    catalog query would abort the read transaction on some engines (DuckDB).
    """
    if spec is not None and spec.query is not None:
        return False
    if engine.dialect.name == "hive":
        return False  # Spark SQL has no keys (and PyHive's catalog answers in an older shape)
    schema, table_name = split_name(spec.table if spec is not None and spec.table else name)
    wanted = (spec.columns if spec is not None else {}).get(ID_COLUMN[name], ID_COLUMN[name])
    if not isinstance(wanted, str):
        return False
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "duckdb":
                return _has_duckdb_key(connection, table_name, schema, wanted)
            return _has_key(connection, table_name, schema, wanted)
    except (NotImplementedError, SQLAlchemyError):
        return False


def _has_duckdb_key(
    connection: Connection, table_name: str, schema: str | None, wanted: str
) -> bool:
    """DuckDB's own catalog: SQLAlchemy's inspector asks it through PostgreSQL's pg_catalog,
    which DuckDB only imitates (the primary-key query fails), so its keys went unseen.

    A PRIMARY KEY or UNIQUE constraint on that one column (DuckDB enforces both). A unique
    index made by CREATE UNIQUE INDEX is not looked for (its columns are only listed as
    text): such a table is checked for duplicates, as a table without a key is.
    """
    found = connection.exec_driver_sql(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        "WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE') AND table_name = $1 "
        "AND schema_name = coalesce($2, current_schema()) "
        "AND database_name = current_database()",
        (table_name, schema),
    ).all()
    return any([str(c).lower() for c in row[0]] == [wanted.lower()] for row in found)


def _has_key(connection: Connection, table_name: str, schema: str | None, wanted: str) -> bool:
    inspector = inspect(connection)
    keys: list[list[str | None]] = [
        list(inspector.get_pk_constraint(table_name, schema=schema)["constrained_columns"])
    ]
    keys += [list(u["column_names"]) for u in inspector.get_unique_constraints(table_name, schema)]
    keys += [
        list(i["column_names"]) for i in inspector.get_indexes(table_name, schema) if i["unique"]
    ]
    return any([str(column).lower() for column in key] == [wanted.lower()] for key in keys)


def source_engine(database_url: str, config: Config) -> Engine:
    """The engine the run reads through: read-only, with the config's timeout and limits."""
    return open_engine(
        database_url,
        config.database.statement_timeout_seconds,
        read_only=True,
        source_queries=[s.query for s in config.source.values() if s and s.query],
        duckdb_memory_mb=config.database.duckdb_memory_mb,
        bigquery_maximum_bytes_billed=config.database.bigquery_maximum_bytes_billed,
        time_travel=config.database.time_travel,
    )
