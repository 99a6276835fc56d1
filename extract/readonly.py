"""A source query may only read: checked on its parsed tree (sqlglot), never by pattern matching.

One statement, whose tree is a SELECT (or WITH ... SELECT, or a set operation
of SELECTs) with no writing node anywhere in it (a writable CTE, SELECT INTO,
FOR UPDATE), and no call of a function that writes, reaches another database
or lifts the session's limits. The database's read-only transaction and the
user's role are the other two locks (docs/security.md); this one names the
problem before anything runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, cast

import sqlglot
from sqlalchemy import Engine, event
from sqlglot import exp
from sqlglot.errors import SqlglotError

# SQLAlchemy dialect name -> sqlglot dialect; anything else is parsed as generic SQL.
_DIALECTS = {
    "postgresql": "postgres",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
    "duckdb": "duckdb",
    "trino": "trino",
    "hive": "spark",  # PyHive's hive:// dialect, as Spark SQL's Thrift server speaks it
    # Warehouses (issue 25): each in its own sqlglot dialect.
    "snowflake": "snowflake",
    "databricks": "databricks",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "awsathena": "athena",
}

# Names, not classes: a node this sqlglot version lacks is simply not looked for.
_WRITING_NODE_NAMES = (
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable",
    "TruncateTable", "Copy", "Command", "Set", "Pragma", "Into", "Lock", "LoadData",
    "Use", "Transaction", "Commit", "Rollback", "Attach", "Detach", "Grant", "Revoke",
    "Install", "Export", "Refresh", "Analyze", "Cache", "Uncache",
)  # fmt: skip
_WRITING_NODES: tuple[type[exp.Expression], ...] = tuple(
    node
    for node in (getattr(exp, name, None) for name in _WRITING_NODE_NAMES)
    if isinstance(node, type)
)

_READING_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)

# Functions refused by name, in any letter case: they write, sleep, lock, reach other
# databases or servers' files, or change the session's settings (its statement timeout).
# Spark's reflect()/java_method() call any static Java method on the server.
_FORBIDDEN_FUNCTIONS = re.compile(
    r"^(dblink.*|set_config|pg_(terminate_backend|cancel_backend|reload_conf|rotate_logfile"
    r"|read_file|read_binary_file|ls_.*|stat_file|file_.*|sleep.*|advisory_.*|try_advisory_.*"
    r"|promote|create_.*|drop_.*|replication_.*|switch_wal|backup_.*|start_backup|stop_backup"
    r"|export_snapshot|import_system_collations|logical_.*|wal_replay_.*|log_backend_memory_contexts)"
    r"|lo_.*|query_to_xml.*|sleep|benchmark|load_file|get_lock"
    r"|release_lock|release_all_locks|load_extension|writefile|readfile|edit|fts3_tokenizer"
    r"|getvariable|setvariable|reflect|try_reflect|java_method)$",
    re.I,
)

# DuckDB table functions that read files: allowed, and then (only then) the DuckDB session
# gets file access, limited to the folders these name (extract/source.py).
_FILE_READERS = re.compile(
    r"^(read_(csv|csv_auto|parquet|json|json_auto|json_objects|ndjson|ndjson_auto|ndjson_objects"
    r"|text|blob|xlsx)|parquet_scan|csv_scan|json_scan|glob|sniff_csv)$",
    re.I,
)


_FILE_NAME = re.compile(r"/|\.(csv|tsv|txt|parquet|json|jsonl|ndjson|xlsx|gz|zst)$", re.I)


def _looks_like_a_file(name: exp.Expression) -> bool:
    quoted = isinstance(name, exp.Literal) or (isinstance(name, exp.Identifier) and name.quoted)
    return quoted and bool(_FILE_NAME.search(str(name.this)))


class NotReadOnly(ValueError):
    """The query could write, run more than one statement, or reach past the job's limits."""


def _function_name(node: exp.Func) -> str:
    return node.name if isinstance(node, exp.Anonymous) else node.sql_name()


def _parse_one(sql: str, dialect: str | None) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read=_DIALECTS.get(dialect or "")) if s]
    except SqlglotError as exc:
        raise NotReadOnly(f"does not parse as one SELECT: {_where_it_fails(sql, exc)}") from None
    if len(statements) != 1:
        raise NotReadOnly("must be a single statement (found a ';' inside)")
    return cast(exp.Expression, statements[0])


_CONTEXT_CHARS = 20
# sqlglot's descriptions as a user reads them, {token} being where it stopped: "Required
# keyword: 'expression' missing for <class 'sqlglot.expressions.core.Mul'>" is its internals.
_READABLE = (
    (re.compile(r"Expecting (.+)", re.S), r"expected \1 near {token}"),
    (re.compile(r"Required keyword.*", re.S), "incomplete near {token}"),
    (re.compile(r"Invalid expression / Unexpected token", re.S), "unexpected {token}"),
)
_UNCLOSED = re.compile(r"Missing (.+) from \d+:(\d+)")


def _where_it_fails(sql: str, exc: SqlglotError) -> str:
    """Where and why sqlglot gave up, in one line: the token it stopped at, its line and column
    (from 1), and the few characters around it; none of sqlglot's own formatting (it underlines
    the token with terminal escape codes and names its classes)."""
    hint = _first_word_hint(sql)
    errors = getattr(exc, "errors", None) or []
    if errors and errors[0].get("line") and errors[0].get("highlight") is not None:
        error = errors[0]
        token = str(error["highlight"])
        # sqlglot counts the column of the token's last character; the user looks for its first.
        column = int(error["col"]) - (len(token) - 1 if "\n" not in token else 0)
        before = _squeeze(str(error.get("start_context") or ""))
        after = _squeeze(str(error.get("end_context") or ""))
        context = (
            ("..." if len(before) > _CONTEXT_CHARS else "")
            + f"{before[-_CONTEXT_CHARS:]}{_squeeze(token)}{after[:_CONTEXT_CHARS]}"
            + ("..." if len(after) > _CONTEXT_CHARS else "")
        ).strip()
        what = _readable(str(error.get("description") or ""), f'"{_squeeze(token)}"')
        return f'{what} at line {error["line"]}, column {column} (in "{context}"){hint}'
    cause = _UNCLOSED.fullmatch(str(exc.__cause__ or ""))
    if cause:  # the tokenizer's own error: the quote opened at that offset is never closed
        offset = int(cause.group(2))
        line = sql.count("\n", 0, offset) + 1
        column = offset - sql.rfind("\n", 0, offset)
        tail = _squeeze(sql[offset:])
        context = tail[:_CONTEXT_CHARS] + ("..." if len(tail) > _CONTEXT_CHARS else "")
        return (
            f"the {cause.group(1)} opened at line {line}, column {column} is never closed "
            f'(in "{context}"){hint}'
        )
    return f"a quote or comment is not closed, or a character is not SQL{hint}"


def _readable(description: str, token: str) -> str:
    for pattern, phrase in _READABLE:
        if found := pattern.fullmatch(description):
            return found.expand(phrase).replace("{token}", token)
    readable = description and "<" not in description and "sqlglot" not in description
    return (
        f"{description[:1].lower()}{description[1:]} near {token}"
        if readable
        else f"stops at {token}"
    )


def _squeeze(text: str) -> str:
    """Line breaks and runs of spaces as one space: the message is one line."""
    return re.sub(r"\s+", " ", text)


def _first_word_hint(sql: str) -> str:
    """A misspelled first keyword (SELEC) is the likeliest reason of all, and sqlglot stops
    only a few tokens later, where it no longer makes sense of the words."""
    word = re.match(r"\s*([A-Za-z_]+)", sql)
    if word is None or word.group(1).upper() in ("SELECT", "WITH", "VALUES", "TABLE", "FROM"):
        return ""
    return f"; it starts with {word.group(1)}, not SELECT or WITH"


def ensure_read_only_query(sql: str, dialect: str | None = None) -> str:
    """The query itself, when it is one statement that can only read; NotReadOnly says why not.

    dialect: SQLAlchemy's dialect name when the database is known (the run checks
    again with it); without it the query is parsed as generic SQL.
    """
    tree = _parse_one(sql, dialect)
    if not isinstance(tree, _READING_ROOTS):
        raise NotReadOnly("must be a SELECT (or WITH ... SELECT) statement")
    for node in tree.walk():
        if isinstance(node, _WRITING_NODES):
            word = node.key.upper() if not isinstance(node, exp.Command) else str(node.this)
            raise NotReadOnly(f"must only read, but uses {word}")
        if isinstance(node, exp.Func) and _FORBIDDEN_FUNCTIONS.match(_function_name(node)):
            raise NotReadOnly(
                f"must only read, but calls {_function_name(node)}(), which the job never allows"
            )
    return sql


def files_read(sql: str, dialect: str | None = "duckdb") -> list[str]:
    """The files (or globs) a query reads through DuckDB's file-reading functions or a quoted path."""
    tree = _parse_one(sql, dialect)
    paths = []
    for node in tree.walk():
        if isinstance(node, exp.Func) and _FILE_READERS.match(_function_name(node)):
            paths += [
                arg.this
                for arg in node.iter_expressions()
                if isinstance(arg, exp.Literal) and arg.is_string
            ]
            paths += [
                item.this
                for arg in node.iter_expressions()
                if isinstance(arg, exp.Array)
                for item in arg.expressions
                if isinstance(item, exp.Literal) and item.is_string
            ]
        elif isinstance(node, exp.Table) and _looks_like_a_file(node.this):
            # DuckDB reads `FROM 'exports/*.csv'`; the parser keeps it as a quoted name.
            paths.append(str(node.this.this))
    return paths


def folders_read(queries: list[str]) -> list[str]:
    """The absolute folders of every file the queries read: what DuckDB may open, nothing else."""
    folders = set()
    for query in queries:
        for path in files_read(query):
            fixed = path.split("*", 1)[0]  # a glob: the folder before its first wildcard
            folder = fixed if fixed.endswith("/") else os.path.dirname(fixed)
            folders.add(os.path.abspath(folder or "."))
    return sorted(folders)


def duckdb_read_only_config(spill_folder: str) -> dict[str, object]:
    """DuckDB's connect-time settings for the job: no extension is fetched or loaded, and what
    does not fit in its memory is spilled to `spill_folder` (see source.py). No file but the
    database (and those of file-reading source queries) is opened: external access is turned
    off right after connecting (limit_duckdb), since off at connect time it would also
    refuse the spill folder."""
    return {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "temp_directory": spill_folder,
    }


# DuckDB keeps every block it has read in its buffer pool, up to 80 % of the machine's memory
# by default, so the job's peak RSS grew with the data read. Capped, it evicts blocks (a scan
# reads each once) and spills what outgrows the cap (the duplicate check's IDs, when a source
# has no key) to a folder of the job's (source.py). At 256 MB the peak still grew with the
# data (230 -> 306 -> 458 MiB at 1M, 4M and 10M work items); at 64 MB (2 threads) it stays at
# 218-250 MiB, with or without keys. Each of DuckDB's threads (one per core) needs its share,
# and more with more rows: the duplicate check failed at 4M work items with 12 MB a thread,
# at 10M with 16 MB (24 MB passed).
DUCKDB_MEMORY_PER_THREAD_MB = 32
DUCKDB_MEMORY_LEAST_MB = 64


def duckdb_memory_limit_mb(threads: int) -> int:
    """The memory DuckDB may use, whatever the data: a fixed share for each of its threads."""
    return max(DUCKDB_MEMORY_LEAST_MB, DUCKDB_MEMORY_PER_THREAD_MB * threads)


def limit_duckdb(engine: Engine, folders: Sequence[str], memory_mb: int | None = None) -> None:
    """Each DuckDB connection: only the named folders readable, memory capped, settings locked,
    one statement a call. memory_mb: the cap, if not `duckdb_memory_limit_mb`'s.

    DuckDB's execute runs every statement of a string; its own parser counts them first here.
    """
    import duckdb

    @event.listens_for(engine, "connect")
    def lock(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # DuckDB opens a file once per process and every connection to it shares that
            # instance and its settings: the first connection set and locked them (GLOBAL), and
            # a second one (the key lookup's, in source.py) can change nothing, so asks nothing.
            cursor.execute("SELECT current_setting('lock_configuration')")
            if cursor.fetchone()[0]:
                return
            # TimeZone is the ICU extension's setting, unknown at connect time: set it here,
            # before the lock (times are cut into UTC days whatever the machine's zone), for
            # every connection of the instance.
            cursor.execute("SET GLOBAL TimeZone = 'UTC'")
            cursor.execute("SELECT current_setting('threads')")
            threads = int(cursor.fetchone()[0])
            limit = memory_mb if memory_mb is not None else duckdb_memory_limit_mb(threads)
            cursor.execute(f"SET GLOBAL memory_limit = '{limit}MB'")
            if folders:
                listed = ", ".join("'" + folder.replace("'", "''") + "'" for folder in folders)
                cursor.execute(f"SET allowed_directories = [{listed}]")
            cursor.execute("SET enable_external_access = false")
            cursor.execute("SET lock_configuration = true")
        finally:
            cursor.close()

    @event.listens_for(engine, "before_cursor_execute")
    def one_statement(*arguments: Any) -> None:
        statement = arguments[2]
        if len(duckdb.extract_statements(statement)) > 1:
            raise NotReadOnly("refused: the job runs one statement at a time, this holds several")
