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


def main(argv: list[str]) -> int:
    import fakesnow

    folder, source, separator, *command = argv
    assert separator == "--", "usage: DB_FOLDER SOURCE_URL -- SCORECARD ARGS..."
    with fakesnow.patch(db_path=folder, nop_regexes=SETTINGS_NOT_EMULATED):
        if source != "-":
            from tests.builders import load, rows_in

            started = time.monotonic()
            load(SNOWFLAKE_URL, rows_in(source))
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
