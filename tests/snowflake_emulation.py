"""Snowflake for the tests: its connector emulated on DuckDB by `fakesnow`, in a venv of its own.

Why a venv of its own (`.venv-snowflake`, made by `make install`): fakesnow emulates the
Snowflake connector of the 4.x line, and the snowflake-sqlalchemy release that supports
SQLAlchemy 2.1 requires the connector's 5.x line; so the emulation runs beside
snowflake-sqlalchemy 1.x on SQLAlchemy 2.0 (which scorecard supports too). Nothing in
scorecard knows about the emulation: the job opens `snowflake://...` as it would on a
real account, and fakesnow answers the connector's calls in this process.

Run as `python -m tests.snowflake_emulation DB_FOLDER SOURCE_URL -- SCORECARD ARGS...` from
the repository's root: loads the canonical tables of SOURCE_URL into the emulated account
(its databases kept as files in DB_FOLDER), then runs `scorecard ARGS...` (where the text
SNOWFLAKE_URL stands for the account's URL) and exits with its exit code.
"""

from __future__ import annotations

import sys
import time

# The emulated account: fakesnow accepts any user, password and account name, and
# creates the database and schema the URL names on first connect.
SNOWFLAKE_URL = "snowflake://reader:emulated@fakesnow/scorecard/public"

# The session settings the job sends that fakesnow does not implement: accepted without
# effect (its DuckDB works in UTC already; nothing here runs long enough to time out).
# That they are sent is checked by test_warehouses.py on the statements themselves.
SETTINGS_NOT_EMULATED = [
    r"^ALTER SESSION SET STATEMENT_TIMEOUT_IN_SECONDS = \d+$",
    r"^ALTER SESSION SET TIMEZONE = 'UTC'$",
]


def _load(rows: dict[str, list[dict[str, object]]]) -> None:
    """The canonical tables created through snowflake-sqlalchemy, and their rows inserted a
    thousand to a statement (the emulation parses each statement: one per row took minutes)."""
    from sqlalchemy import (
        Boolean,
        Column,
        Float,
        Integer,
        MetaData,
        String,
        Table,
        create_engine,
        insert,
    )

    from scorecard.schema import TABLES

    def extra_columns(name: str, canonical: set[str]) -> list[Column[object]]:
        """Columns beyond the canonical ones (the demo's contact-centre extras), typed by
        their first value."""
        first = {
            k: v for row in reversed(rows.get(name, [])) for k, v in row.items() if v is not None
        }
        kinds = {bool: Boolean, int: Integer, float: Float}
        return [
            Column(k, kinds.get(type(v), String)())
            for k, v in sorted(first.items())
            if k not in canonical
        ]

    engine = create_engine(SNOWFLAKE_URL)
    metadata = MetaData()
    # Columns and keys only: Snowflake's standard tables have no indexes.
    tables = {
        name: Table(name, metadata, *[
            Column(c.name, c.type, primary_key=c.primary_key) for c in table.columns
        ], *extra_columns(name, {c.name for c in table.columns}))
        for name, table in TABLES.items()
    }  # fmt: skip
    metadata.create_all(engine)
    with engine.begin() as connection:
        for name, table_rows in rows.items():
            for start in range(0, len(table_rows), 1000):
                connection.execute(insert(tables[name]).values(table_rows[start : start + 1000]))
    engine.dispose()


def main(argv: list[str]) -> int:
    import fakesnow

    folder, source, separator, *command = argv
    assert separator == "--", "usage: DB_FOLDER SOURCE_URL -- SCORECARD ARGS..."
    with fakesnow.patch(db_path=folder, nop_regexes=SETTINGS_NOT_EMULATED):
        if source != "-":
            from tests.builders import rows_in

            started = time.monotonic()
            _load(rows_in(source))
            print(f"loaded in {time.monotonic() - started:.1f} s", file=sys.stderr)
        from scorecard.cli import cli

        arguments = [SNOWFLAKE_URL if a == "SNOWFLAKE_URL" else a for a in command]
        try:
            cli.main(arguments, prog_name="scorecard", standalone_mode=True)
        except SystemExit as exit_:
            return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
