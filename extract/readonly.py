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

# ---- the allowlist: what a read query needs, and nothing else ----------------------------
#
# Every node of the parsed tree is either a construct below, or a function on the list of
# functions sqlglot knows by name (typed: the same meaning in every dialect it reads), or a
# function it does not know, allowed by its name for the database's dialect. Anything else
# is refused by name: a function that is not on a list never reaches the database, however
# ordinary it looks (PostgreSQL's ts_stat, query_to_xml and xpath run SQL held in a string).

# Constructs: the parts of a SELECT, and the operators of comparison, arithmetic and logic.
_ALLOWED_CONSTRUCTS = (
    "Select", "From", "Where", "Group", "Having", "Order", "Ordered", "Limit", "Offset", "Fetch",
    "LimitOptions", "Join", "Lateral", "Subquery", "CTE", "With", "Union", "Intersect", "Except",
    "SetOperation", "Distinct", "Qualify", "Values", "Column", "Identifier", "Star", "Table",
    "TableAlias", "Alias", "Aliases", "Literal", "Null", "Boolean", "Var", "DataType",
    "DataTypeParam", "Interval", "IntervalSpan", "In", "Between", "Is", "Any", "All", "Tuple",
    "Bracket", "Slice", "Window", "WindowSpec", "Filter", "WithinGroup", "RespectNulls",
    "IgnoreNulls", "HavingMax", "Rollup", "Cube", "GroupingSets", "Escape", "Collate",
    "JSONPath", "JSONPathKey", "JSONPathRoot", "JSONPathSubscript", "JSONPathSlice",
    "JSONPathWildcard", "JSONPathFilter", "JSONPathSelector", "JSONPathUnion",
    "ByteString", "HexString", "BitString", "RawString", "UnicodeString", "National",
    "Pivot", "PivotAlias", "Unpivot", "TableSample", "Placeholder", "Pseudocolumn",
    # operators: comparison, arithmetic, logic, string and JSON access
    "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "NullSafeEQ", "NullSafeNEQ", "Like", "ILike",
    "SimilarTo", "Glob", "Match", "Overlaps", "Add", "Sub", "Mul", "Div", "IntDiv", "Mod",
    "DPipe", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitwiseLeftShift",
    "BitwiseRightShift", "Neg", "Not", "Paren", "Dot", "Kwarg", "And", "Or", "Xor",
)  # fmt: skip

# Functions sqlglot knows by name, as it names its classes: the same in every dialect.
_ALLOWED_FUNCTIONS = (
    # aggregates and window functions
    "Count", "CountIf", "Sum", "Avg", "Min", "Max", "ArrayAgg", "GroupConcat", "AnyValue",
    "ApproxDistinct", "Median", "Mode", "Quantile", "PercentileCont", "PercentileDisc",
    "Stddev", "StddevPop", "StddevSamp", "Variance", "VariancePop", "Corr", "CovarPop",
    "CovarSamp", "LogicalAnd", "LogicalOr", "ArgMax", "ArgMin", "First", "Last",
    "FirstValue", "LastValue", "NthValue", "Lag", "Lead", "RowNumber", "Rank", "DenseRank",
    "PercentRank", "CumeDist", "Ntile", "Grouping", "BitwiseAndAgg", "BitwiseOrAgg",
    "BitwiseXorAgg",
    # conditions and conversion
    "Case", "If", "Coalesce", "Nullif", "Nvl2", "Greatest", "Least", "Cast", "TryCast",
    "Convert", "Exists", "Typeof", "ToChar", "ToNumber", "ToDouble", "ToBoolean",
    "NumberToStr", "IsNan", "IsInf", "EqualNull",
    # arithmetic
    "Abs", "Round", "Floor", "Ceil", "Trunc", "Sign", "Pow", "Sqrt", "Cbrt", "Exp", "Ln",
    "Log", "Pi", "Degrees", "Radians", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Atan2",
    "SafeDivide", "WidthBucket",
    # text
    "Lower", "Upper", "Initcap", "Length", "ByteLength", "BitLength", "Substring",
    "SubstringIndex", "Left", "Right", "Trim", "Pad", "Concat", "ConcatWs", "Replace",
    "Translate", "Reverse", "Repeat", "Space", "StrPosition", "SplitPart", "Split",
    "StartsWith", "EndsWith", "Contains", "Ascii", "Chr", "Unicode", "Format", "MD5",
    "RegexpLike", "RegexpILike", "RegexpReplace", "RegexpExtract", "RegexpExtractAll",
    "RegexpSubstr", "RegexpCount", "RegexpInstr", "RegexpSplit", "RegexpFullMatch",
    "Levenshtein", "Soundex", "Hex", "Unhex", "Overlay", "ArrayToString", "StringToArray",
    # dates and times
    "CurrentDate", "CurrentTime", "CurrentTimestamp", "CurrentDatetime", "Localtime",
    "Localtimestamp", "UtcDate", "UtcTime", "UtcTimestamp", "Extract", "Date", "Datetime",
    "Time", "Timestamp", "DateTrunc", "TimestampTrunc", "DatetimeTrunc", "TimeTrunc",
    "DateAdd", "DateSub", "DateDiff", "DatetimeAdd", "DatetimeSub", "DatetimeDiff",
    "TimestampAdd", "TimestampSub", "TimestampDiff", "TimeAdd", "TimeSub", "TimeDiff",
    "AddMonths", "MonthsBetween", "LastDay", "NextDay", "DateBin", "DateFromParts",
    "TimeFromParts", "TimestampFromParts", "MakeInterval", "JustifyDays", "JustifyHours",
    "JustifyInterval", "Year", "Quarter", "Month", "Week", "WeekOfYear", "Day",
    "DayOfMonth", "DayOfWeek", "DayOfWeekIso", "DayOfYear", "Hour", "Minute", "Second",
    "Dayname", "Monthname", "TimeToStr", "TimeToTimeStr", "TimeToUnix", "StrToTime",
    "StrToDate", "StrToUnix", "UnixToTime", "UnixToStr", "UnixToTimeStr", "UnixSeconds",
    "UnixMillis", "UnixMicros", "UnixDate", "DateStrToDate", "DateToDateStr",
    "TimeStrToTime", "TimeStrToDate", "TimeStrToUnix", "TsOrDsToDate", "TsOrDsToTimestamp",
    "TsOrDsToDatetime", "TsOrDsToTime", "TsOrDsToDateStr", "TsOrDsAdd", "TsOrDsDiff",
    "ConvertTimezone", "FromISO8601Timestamp", "FromISO8601Date", "ParseDatetime", "ParseTime",
    # structured values read from a row, and table functions that make rows from values
    "Array", "ArraySize", "ArrayContains", "ArrayContainsAll", "ArrayOverlaps", "ArrayConcat",
    "ArrayPosition", "ArraySlice", "ArraySort", "ArrayDistinct", "Struct", "StructExtract",
    "Map", "VarMap", "JSONExtract", "JSONExtractScalar", "JSONBExtract", "JSONBExtractScalar",
    "JSONBContains", "JSONArrayContains", "JSONFormat", "JSONType", "JSONKeys", "ParseJSON",
    "JSONObject", "JSONArray", "JSONArrayAgg", "JSONObjectAgg", "JSONBObjectAgg",
    "JSONExists", "JSONBExists", "Unnest", "Explode", "Posexplode", "GenerateSeries",
    "ExplodingGenerateSeries", "GenerateDateArray",
)  # fmt: skip

# Functions sqlglot does not know by name (parsed as "anonymous"), per dialect, lower case.
_ANONYMOUS_COMMON = (
    "abs", "age", "ceiling", "char_length", "character_length", "ltrim", "rtrim", "btrim",
    "lpad", "rpad", "octet_length", "position", "instr", "locate", "mod", "power", "log10",
    "log2", "truncate", "nvl", "ifnull", "isnull", "to_date", "to_timestamp", "strftime",
    "strptime", "date_part", "datepart", "date_format", "unix_timestamp", "from_unixtime",
    "row", "string_agg", "listagg", "bool_and", "bool_or", "every", "regexp_match",
    "regexp_matches", "regexp_split_to_array", "split", "substr", "concat", "format",
    "coalesce", "greatest", "least", "nullif", "length", "upper", "lower", "replace", "trim",
)  # fmt: skip
_ANONYMOUS_BY_DIALECT: dict[str, tuple[str, ...]] = {
    "postgres": (
        "make_date", "make_time", "make_timestamp", "make_timestamptz", "make_interval",
        "date_bin", "timezone", "isfinite", "justify_days", "justify_hours", "clock_timestamp",
        "statement_timestamp", "transaction_timestamp", "to_number", "to_char", "initcap",
        "quote_ident", "quote_literal", "quote_nullable", "split_part", "strpos", "translate",
        "regexp_replace", "regexp_substr", "regexp_count", "regexp_like", "starts_with",
        "json_extract_path", "json_extract_path_text", "jsonb_extract_path",
        "jsonb_extract_path_text", "json_typeof", "jsonb_typeof", "json_array_length",
        "jsonb_array_length", "jsonb_build_object", "json_build_object", "to_json", "to_jsonb",
        "array_length", "array_to_string", "array_position", "cardinality", "unnest",
        "generate_series", "width_bucket", "num_nonnulls", "num_nulls", "scale", "div",
        "bit_and", "bit_or", "percentile_cont", "percentile_disc", "mode",
    ),
    "duckdb": (
        "epoch", "epoch_ms", "epoch_us", "epoch_ns", "make_date", "make_time", "make_timestamp",
        "try_strptime", "strptime", "strftime", "date_diff", "datediff", "date_sub",
        "date_add", "date_trunc", "datetrunc", "time_bucket", "dayname", "monthname",
        "last_day", "to_timestamp", "regexp_full_match", "regexp_extract", "string_split",
        "str_split", "list_value", "list_aggregate", "list", "range", "generate_series",
        "unnest", "contains", "prefix", "suffix", "starts_with", "ends_with", "ilike_escape",
        "like_escape", "len", "strlen", "array_length", "list_contains", "bool_and", "bool_or",
        "arg_max", "arg_min", "fsum", "favg", "count_star", "first", "last", "histogram",
        "typeof", "nullif", "isnan", "isinf", "round_even", "even",
        # files, only in the folders a query names: see files_read and source.py
        "read_csv", "read_csv_auto", "read_parquet", "read_json", "read_json_auto",
        "read_json_objects", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects",
        "parquet_scan", "csv_scan", "json_scan",
    ),
    "mysql": (
        "str_to_date", "date_format", "time_format", "timestampdiff", "timestampadd",
        "datediff", "date_add", "date_sub", "adddate", "subdate", "convert_tz", "makedate",
        "maketime", "sec_to_time", "time_to_sec", "to_days", "to_seconds", "from_days",
        "weekday", "dayofweek", "dayofmonth", "dayofyear", "yearweek", "weekofyear",
        "last_day", "period_add", "period_diff", "utc_timestamp", "utc_date", "utc_time",
        "curdate", "curtime", "sysdate", "unix_timestamp", "from_unixtime", "if", "ifnull",
        "field", "elt", "find_in_set", "lcase", "ucase", "mid", "regexp_substr",
        "regexp_instr", "regexp_replace", "regexp_like", "group_concat", "json_extract",
        "json_unquote", "json_value", "json_contains", "json_length", "json_type",
        "bit_and", "bit_or", "bit_xor", "std", "stddev", "variance", "var_pop", "var_samp",
        "truncate", "conv", "hex", "unhex",
    ),
    "sqlite": (
        "julianday", "date", "time", "datetime", "unixepoch", "strftime", "timediff",
        "printf", "format", "instr", "iif", "ifnull", "nullif", "typeof", "total",
        "group_concat", "json_extract", "json_type", "json_array_length", "json_each",
        "likely", "unlikely", "likelihood", "glob", "like", "char", "hex", "unicode",
        "quote", "round", "sign",
    ),
    "spark": (
        "date_format", "to_date", "to_timestamp", "try_to_timestamp", "unix_timestamp",
        "from_unixtime", "unix_micros", "unix_millis", "unix_seconds", "timestamp_seconds",
        "timestamp_millis", "timestamp_micros", "make_date", "make_timestamp", "datediff",
        "date_diff", "date_add", "date_sub", "add_months", "months_between", "trunc",
        "date_trunc", "from_utc_timestamp", "to_utc_timestamp", "nvl", "nvl2", "ifnull",
        "try_cast", "try_add", "try_subtract", "try_multiply", "try_divide", "try_sum",
        "try_avg", "collect_list", "collect_set", "percentile", "percentile_approx",
        "approx_percentile", "regexp_extract", "regexp_replace", "rlike", "split",
        "size", "element_at", "array_contains", "explode", "posexplode", "get_json_object",
        "json_tuple", "from_json", "to_json", "bool_and", "bool_or", "any", "some", "every",
        "count_if", "first", "last", "first_value", "last_value", "decode", "nanvl",
    ),
}  # fmt: skip

_ANONYMOUS_BY_DIALECT["trino"] = (
    "date_parse", "date_format", "from_iso8601_timestamp", "from_iso8601_date", "to_unixtime",
    "from_unixtime", "date_diff", "date_add", "date_trunc", "regexp_like", "element_at",
    "cardinality", "try", "format_datetime", "parse_datetime", "json_extract_scalar",
)  # fmt: skip
_CONSTRUCTS: tuple[type[exp.Expression], ...] = tuple(
    node
    for node in (getattr(exp, name, None) for name in _ALLOWED_CONSTRUCTS)
    if isinstance(node, type)
)
_FUNCTIONS: tuple[type[exp.Expression], ...] = tuple(
    node
    for node in (getattr(exp, name, None) for name in _ALLOWED_FUNCTIONS)
    if isinstance(node, type)
)
# Parsed without a dialect (the config check, before the database is known): a name any
# dialect allows; the run checks again in the database's own.
_ANY_DIALECT = frozenset(
    name for names in _ANONYMOUS_BY_DIALECT.values() for name in (*_ANONYMOUS_COMMON, *names)
)
# DuckDB's file readers, which sqlglot knows by name: DuckDB only (see files_read).
_DUCKDB_FUNCTIONS: tuple[type[exp.Expression], ...] = tuple(
    node
    for node in (getattr(exp, name, None) for name in ("ReadCSV", "ReadParquet"))
    if isinstance(node, type)
)


def allowed_functions(dialect: str | None) -> frozenset[str]:
    """The names of the functions sqlglot does not know that a query may call in the
    SQLAlchemy dialect (lower case); the functions it knows are `_ALLOWED_FUNCTIONS`."""
    glot = _DIALECTS.get(dialect or "")
    if glot is None:
        return _ANY_DIALECT
    return frozenset((*_ANONYMOUS_COMMON, *_ANONYMOUS_BY_DIALECT.get(glot, ())))


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

    Allowlisted: every construct and function of the parsed tree must be one a read query
    needs (`_ALLOWED_CONSTRUCTS`, `_ALLOWED_FUNCTIONS`, `allowed_functions`); and no text
    may be code to the server that the parser takes for a comment (`_read_alike`).
    """
    tree = _parse_one(sql, dialect)
    _read_alike(sql, dialect)
    if not isinstance(tree, _READING_ROOTS):
        raise NotReadOnly("must be a SELECT (or WITH ... SELECT) statement")
    names = allowed_functions(dialect)
    duckdb = dialect in (None, "duckdb")
    for node in tree.walk():
        if isinstance(node, _WRITING_NODES):
            word = node.key.upper() if not isinstance(node, exp.Command) else str(node.this)
            raise NotReadOnly(f"must only read, but uses {word}")
        if isinstance(node, exp.Anonymous):
            if str(node.name).lower() not in names:
                raise NotReadOnly(_refused_function(str(node.name)))
        elif isinstance(node, _CONSTRUCTS):  # And and Or are functions to sqlglot
            continue
        elif isinstance(node, exp.Func):
            if not isinstance(node, _FUNCTIONS) and not (
                duckdb and isinstance(node, _DUCKDB_FUNCTIONS)
            ):
                raise NotReadOnly(_refused_function(_written_name(node, dialect)))
        else:
            raise NotReadOnly(
                f"uses {_construct_name(node)}, which is not on the job's list of what a read "
                'query needs (docs/security.md, "Source queries")'
            )
    return sql


def _refused_function(name: str) -> str:
    return (
        f"calls {name}(), which is not on the job's list of functions a read query needs "
        '(docs/security.md, "Source queries")'
    )


def _written_name(node: exp.Func, dialect: str | None) -> str:
    """The function's name as the dialect spells it (sqlglot keeps no spelling of its own)."""
    try:
        written = node.sql(dialect=_DIALECTS.get(dialect or ""))
    except SqlglotError:
        written = ""
    name = re.match(r"[A-Za-z_][A-Za-z_0-9.]*", written)
    return name.group(0) if name else node.sql_name()


def _construct_name(node: object) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(node).__name__).upper()


# Comments the server reads as code: MariaDB/MySQL run what is inside /*! ... */ and
# /*M! ... */ (with a version: /*!50100 ... */) and read optimizer hints in /*+ ... */; to
# sqlglot, as to PostgreSQL, they are comments. Refused on every engine: a query that needs
# one is not a query the job reads with. PostgreSQL nests /* comments, sqlglot does not.
_SERVER_READS = re.compile(r"/\*\s*(?:M?!|\+)", re.I)


def _read_alike(sql: str, dialect: str | None) -> None:
    """Refuse any text the server would read differently from the parser: what lies
    between the parser's tokens must be blanks and comments the server ignores too, and
    (MariaDB/MySQL) no string may hold a backslash, an escape or not by the server's sql_mode."""
    glot = _DIALECTS.get(dialect or "")
    try:
        tokens = sqlglot.Dialect.get_or_raise(glot).tokenize(sql)
    except SqlglotError as exc:
        raise NotReadOnly(f"does not parse as one SELECT: {_where_it_fails(sql, exc)}") from None
    gaps = []
    previous_end = -1
    for token in tokens:
        gaps.append((previous_end + 1, sql[previous_end + 1 : token.start]))
        previous_end = token.end
        if token.token_type.name == "HINT":  # sqlglot reads /*+ as a hint of its own
            gaps.append((token.start, sql[token.start : token.end + 1] + " */"))
        if glot == "mysql" and token.token_type.name.endswith("STRING"):
            written = sql[token.start : token.end + 1]
            if "\\" in written:
                raise NotReadOnly(
                    f"holds a backslash in the string {_shown(written)}: MariaDB and MySQL read "
                    "it as an escape or not by the server's sql_mode, so the job cannot know "
                    "what runs; write the character itself (e.g. [.] in a pattern)"
                )
    gaps.append((previous_end + 1, sql[previous_end + 1 :]))
    for offset, gap in gaps:
        for comment in _block_comments(gap):
            where = offset + comment.start()
            line = sql.count("\n", 0, where) + 1
            if _SERVER_READS.match(comment.group(0)):
                raise NotReadOnly(
                    f"holds {_shown(comment.group(0))} at line {line}: MariaDB and MySQL run "
                    "what is inside /*! */ and /*M! */ and read /*+ */ as hints, where the "
                    "check sees a comment; refused on every engine"
                )
            if "/*" in comment.group(0)[2:]:
                raise NotReadOnly(
                    f"holds a comment inside a comment at line {line}: PostgreSQL nests "
                    "/* */ comments, so what is code and what is comment differs; refused on "
                    "every engine"
                )


def _block_comments(gap: str) -> list[re.Match[str]]:
    """The /* */ comments of a stretch of blanks and comments (-- and # comments skipped)."""
    found = []
    index = 0
    while index < len(gap):
        if gap.startswith("/*", index):
            end = gap.find("*/", index + 2)
            end = len(gap) if end < 0 else end + 2
            match = re.compile(r".*", re.S).match(gap, index, end)
            assert match is not None
            found.append(match)
            index = end
        elif gap.startswith("--", index) or gap.startswith("#", index):
            end = gap.find("\n", index)
            index = len(gap) if end < 0 else end + 1
        else:
            index += 1
    return found


def _shown(text: str) -> str:
    squeezed = _squeeze(text)
    return squeezed if len(squeezed) <= 40 else squeezed[:37] + "..."


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
