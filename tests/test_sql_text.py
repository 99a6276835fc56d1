"""Config text that reaches SQL (time formats, value maps, null values, constants) holds quotes
and backslashes and still means itself, on every engine: bound, or escaped for the dialect."""

from __future__ import annotations

from sqlalchemy import String, create_engine, literal, select, text, type_coerce
from sqlalchemy.types import NullType

from extract.dialects import parsed_timestamp
from extract.mapping import Kind, Problems, canonical_source
from extract.source import open_engine, read_only_connection
from scorecard.config import ColumnConstant, TableSource
from tests.test_dialects import _as_utc_text

# strftime formats with the characters SQL and regular expressions read specially.
HOSTILE_FORMATS = [
    ("%d\\%m\\%Y %H:%M", "1\\7\\2026 8:05", "2026-07-01 08:05"),
    ("%d'%m'%Y %H:%M", "1'7'2026 8:05", "2026-07-01 08:05"),
    ("%Y-%m-%d\\'%H:%M", "2026-07-01\\'08:05", "2026-07-01 08:05"),
    ('%d"%m"%Y %H:%M', '1"7"2026 8:05', "2026-07-01 08:05"),
    ("%d.%m.%Y %H:%M", "1x7x2026 8:05", None),  # . is a dot, not any character
    ("%d\\%m\\%Y %H:%M", "1/7/2026 8:05", None),
]


def _existing(url: str) -> None:
    """The job opens SQLite and DuckDB read-only: the file must exist."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS here (a INTEGER)"))
    engine.dispose()


def test_time_formats_with_quotes_and_backslashes_read_alike_everywhere(any_database_url):
    _existing(any_database_url)
    engine = open_engine(any_database_url, read_only=True)
    found = []
    try:
        with read_only_connection(engine) as connection:
            for fmt, value, _ in HOSTILE_FORMATS:
                parsed = type_coerce(parsed_timestamp(literal(value, String()), fmt), NullType())
                found.append(_as_utc_text(connection.execute(select(parsed)).scalar_one()))
    finally:
        engine.dispose()
    assert found == [expected for _, _, expected in HOSTILE_FORMATS]


UNMAPPED = ("due_at", "completed_at", "units", "qa_checked_units", "defects")
EXPORT_ROWS = [
    ("t1", "it's\\done", "1'7'2026 8:05"),
    ("t2", "N\\A'", "N\\A'"),
    ("t3", "O'Brien", "2\\7\\2026 9:00"),
]


def test_value_maps_null_values_and_constants_with_quotes_and_backslashes(any_database_url):
    maker = create_engine(any_database_url)
    with maker.begin() as connection:
        connection.execute(
            text("CREATE TABLE export (ticket VARCHAR(20), state VARCHAR(20), opened VARCHAR(20))")
        )
        connection.execute(
            text("INSERT INTO export VALUES (:ticket, :state, :opened)"),
            [dict(zip(("ticket", "state", "opened"), row, strict=True)) for row in EXPORT_ROWS],
        )
    maker.dispose()
    spec = TableSource(
        table="export",
        null_values=("N\\A'",),
        values={"process": {"it's\\done": "back\\slash'd", "O'Brien": "o\\'b"}},
        formats={"received_at": "%d'%m'%Y %H:%M"},
        columns={
            "work_item_id": "ticket",
            "process": "state",
            "vendor_id": ColumnConstant(value="V'1\\"),
            "received_at": "opened",
            **{name: ColumnConstant(null=True) for name in UNMAPPED},
            "reworked": ColumnConstant(value=False),
        },
    )
    engine = open_engine(any_database_url, read_only=True)
    try:
        with read_only_connection(engine) as connection:
            probe = connection.execute(select(text("*")).select_from(text("export")).limit(0))
            kinds: dict[str, Kind] = dict.fromkeys(probe.keys(), "text")
            problems = Problems()
            source = canonical_source("work_items", spec, kinds, problems)
            assert source.select is not None, problems
            query = source.select.subquery("s")
            rows = connection.execute(
                select(query.c.work_item_id, query.c.process, query.c.vendor_id,
                       type_coerce(query.c.received_at, NullType())).order_by(query.c.work_item_id)
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    assert [(r[0], r[1], r[2], _as_utc_text(r[3])) for r in rows] == [
        ("t1", "back\\slash'd", "V'1\\", "2026-07-01 08:05"),
        ("t2", None, "V'1\\", None),
        ("t3", "o\\'b", "V'1\\", None),
    ]
