"""`scorecard --help` and `scorecard check` start fast: they never import the heavy libraries
that only extracting, scoring and rendering use. Checked by what a fresh process imports,
never by its wall time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from extract.source import open_engine
from scorecard.schema import create_tables

pytestmark = pytest.mark.integration  # each test starts a process of its own

HEAVY = {"polars", "weasyprint", "matplotlib", "babel", "pypdf", "pyarrow", "numpy"}


def _imported(*args: str) -> tuple[set[str], int]:
    """The top-level packages a `scorecard <args>` process has imported when it ends."""
    code = (
        "import runpy, sys, json\n"
        f"sys.argv = ['scorecard', *{list(args)!r}]\n"
        "code = 0\n"
        "try:\n"
        "    runpy.run_module('scorecard.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    code = exit.code or 0\n"
        "print('IMPORTED ' + json.dumps([sorted({m.split('.')[0] for m in sys.modules}), code]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("IMPORTED ")][-1]
    modules, exit_code = json.loads(line.removeprefix("IMPORTED "))
    return set(modules), exit_code


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["check", "--help"]])
def test_help_imports_nothing_heavy(args):
    modules, code = _imported(*args)
    assert code == 0
    assert "scorecard" in modules and "click" in modules  # it did run the CLI
    assert modules & (HEAVY | {"sqlglot"}) == set()


def test_check_imports_nothing_heavy(sqlite_url):
    engine = open_engine(sqlite_url, read_only=False)
    create_tables(engine)
    engine.dispose()
    modules, code = _imported("check", "--database-url", sqlite_url)
    assert code == 1  # empty tables: the check says so (exit 1), having read every source
    assert "sqlalchemy" in modules
    assert modules & HEAVY == set()


def test_a_csv_run_from_duckdb_imports_no_numpy(duckdb_url, tmp_path):
    """DuckDB hands charges' amounts over as Decimals, and polars imports numpy (a tenth of a
    second of the stage) to build a Decimal column: they are read as floats instead."""
    from tests.builders import charge, item, load, vendor

    load(duckdb_url, {
        "vendors": [vendor("A")],
        "work_items": [item("w1", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 10:00")],
        "charges": [charge("c1", "A", "2026-07-01", "2026-07-31", 100.25)],
    })  # fmt: skip
    modules, code = _imported("run", "--database-url", duckdb_url, "--as-of", "2026-09-30",
                              "--out", str(tmp_path / "out"), "--format", "csv")  # fmt: skip
    assert code in (0, 1)
    assert "duckdb" in modules and "polars" in modules  # it did read and score
    assert "numpy" not in modules
