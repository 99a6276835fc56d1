"""Bring your own schema (contract section 6): a mapped table or one SELECT per canonical table."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from extract.readonly import ensure_read_only_query
from extract.source import open_engine, read_only_connection
from scorecard.schema import vendors as vendors_table
from tests.builders import charge, item, load, request, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A", name="Acme Offshore"), vendor("H", "in_house", name="Support In-house")],
    "work_items": [
        item("w1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", units=10, qa=10, defects=1),
        item("w2", "A", "2026-07-05 00:00", "2026-07-06 00:00", None, units=3, qa=0),
        item("h1", "H", "2026-07-05 00:00", "2026-07-06 00:00", "2026-07-05 12:00", units=4, qa=4),
    ],
    "requests": [request("r1", "A", "high", "2026-07-01 00:00", "2026-07-01 05:00")],
    "charges": [charge("c1", "A", "2026-07-01", "2026-07-31", 50.0), charge("c2", "H", "2026-07-01", "2026-07-31", 80.0)],
}  # fmt: skip

# The same work items as a company might keep them: other table and column names.
TICKETS_DDL = """CREATE TABLE helpdesk_tickets (
    ticket_no VARCHAR(64), supplier VARCHAR(64), queue VARCHAR(60), opened TIMESTAMP, sla_deadline TIMESTAMP,
    closed TIMESTAMP, volume INTEGER, sampled INTEGER, errors INTEGER, redone BOOLEAN)"""
MAPPING = """[source.work_items]
table = "helpdesk_tickets"

[source.work_items.columns]
work_item_id = "ticket_no"
vendor_id = "supplier"
process = "queue"
received_at = "opened"
due_at = "sla_deadline"
completed_at = "closed"
units = "volume"
qa_checked_units = "sampled"
defects = "errors"
reworked = "redone"
"""
QUERY = '''[source.work_items]
query = """
SELECT ticket_no AS work_item_id, supplier AS vendor_id, queue AS process, opened AS received_at,
       sla_deadline AS due_at, closed AS completed_at, volume AS units, sampled AS qa_checked_units,
       errors AS defects, redone AS reworked
FROM helpdesk_tickets
WHERE queue <> 'internal-test'   -- a filter the company wants applied
"""
'''


def _config(out: Path, config_text: str = "") -> Path:
    """The config file of the run into out, beside it: config_text."""
    config = out.parent / f"{out.name}.toml"
    config.write_text(config_text)
    return config


def _with_tickets(url: str) -> None:
    """Canonical vendors, requests and charges; work items only in helpdesk_tickets."""
    load(url, {name: rows for name, rows in ROWS.items() if name != "work_items"})
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(TICKETS_DDL))
        for r in [
            *ROWS["work_items"],
            item("x", "A", "2026-07-01 00:00", None, None, process="internal-test"),
        ]:
            connection.execute(
                text("INSERT INTO helpdesk_tickets VALUES (:a, :b, :c, :d, :e, :f, :g, :h, :i, :j)"),
                dict(zip("abcdefghij", [r["work_item_id"], r["vendor_id"], r["process"], r["received_at"], r["due_at"],
                                         r["completed_at"], r["units"], r["qa_checked_units"], r["defects"], r["reworked"]], strict=True)),
            )  # fmt: skip
        connection.execute(text("DROP TABLE work_items"))
    engine.dispose()


@pytest.fixture
def canonical_scores(tmp_path_factory, scorecard_cli) -> str:
    base = tmp_path_factory.mktemp("canonical")
    url = f"sqlite:///{base / 'canonical.db'}"
    load(url, ROWS)
    out = base / "out"
    result = scorecard_cli.run(url, out, "--format", "csv", config=_config(out))
    assert result.exit_code == 0, result.stderr
    return (out / AS_OF / "scores.csv").read_text()


@pytest.mark.parametrize("config_text", [MAPPING, QUERY], ids=["mapped-table", "query"])
def test_own_schema_scores_exactly_like_the_canonical_tables(
    any_database_url, tmp_path, canonical_scores, scorecard_cli, config_text
):
    _with_tickets(any_database_url)
    out = tmp_path / "out"
    result = scorecard_cli.run(
        any_database_url, out, "--format", "csv", config=_config(out, config_text)
    )
    assert result.exit_code == 0, result.stderr
    csv = (out / AS_OF / "scores.csv").read_text()
    assert csv == canonical_scores
    assert csv.count("\n") > 3


def test_a_mapping_naming_a_missing_table_exits_3_before_any_work(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, ROWS)
    out = tmp_path / "out"
    result = scorecard_cli.run(sqlite_url, out, "--format", "csv", config=_config(out, MAPPING))
    assert result.exit_code == 3
    assert (
        result.stderr.splitlines()[-1]
        == "scorecard: error: source.work_items.table 'helpdesk_tickets' is missing from the database"
    )
    assert not (tmp_path / "out" / AS_OF).exists()


def test_a_mapping_naming_a_missing_column_exits_3_naming_it(sqlite_url, tmp_path, scorecard_cli):
    _with_tickets(sqlite_url)
    out = tmp_path / "out"
    config = _config(out, MAPPING.replace('units = "volume"', 'units = "pages"'))
    result = scorecard_cli.run(sqlite_url, out, "--format", "csv", config=config)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == (
        "scorecard: error: source.work_items.table 'helpdesk_tickets' has no column 'pages' "
        "(for work_items.units): name the right one under [source.work_items.columns] "
        "or give units = { null = true }"
    )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("DELETE FROM work_items", "must be a SELECT (or WITH ... SELECT) statement"),
        (
            "SELECT * FROM work_items; DROP TABLE vendors",
            "must be a single statement (found a ';' inside)",
        ),
        (
            "WITH gone AS (DELETE FROM work_items RETURNING *) SELECT * FROM gone",
            "must only read, but uses DELETE",
        ),
        ("SELECT * INTO backup FROM work_items", "must only read, but uses INTO"),
    ],
)
def test_anything_but_one_select_is_refused_with_exit_2(
    sqlite_url, tmp_path, scorecard_cli, query, reason
):
    load(sqlite_url, ROWS)
    out = tmp_path / "out"
    config = _config(out, f'[source.work_items]\nquery = "{query}"\n')
    result = scorecard_cli.run(sqlite_url, out, "--format", "csv", config=config)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].endswith(f"source.work_items.query: {reason}")


def test_words_inside_strings_and_comments_do_not_count_as_writing():
    assert ensure_read_only_query("SELECT 'delete me' AS note -- update later\nFROM t;")


def test_the_database_itself_refuses_writes_inside_the_jobs_transaction(any_database_url):
    load(any_database_url, {})
    engine = open_engine(any_database_url, read_only=True)
    with (
        pytest.raises(Exception, match=r"(?i)read.only|readonly|attempt to write"),
        read_only_connection(engine) as connection,
    ):
        connection.execute(
            insert(vendors_table).values(
                vendor_id="X", name="x", sourcing="onshore", currency="EUR"
            )
        )
    engine.dispose()


def test_a_query_with_a_hidden_write_is_refused_and_the_transaction_would_stop_it(
    postgresql_url, tmp_path, scorecard_cli
):
    load(postgresql_url, ROWS)
    engine = create_engine(postgresql_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE ticket_seq"))
    engine.dispose()
    # nextval() changes the database; no keyword gives it away: it is on no list of the
    # functions a read query needs, so the query never runs (exit 2) ...
    query = "SELECT w.* FROM work_items w WHERE nextval('ticket_seq') > 0"
    out = tmp_path / "out"
    config = _config(out, f'[source.work_items]\nquery = "{query}"\n')
    result = scorecard_cli.run(postgresql_url, out, "--format", "csv", config=config)
    assert result.exit_code == 2, result.output
    assert "calls nextval(), which is not on the job's list" in result.stderr.splitlines()[-1]
    # ... and were it let through, the read-only transaction stops it.
    engine = open_engine(postgresql_url, read_only=True)
    try:
        with (
            pytest.raises(
                Exception, match=r"cannot execute nextval\(\) in a read-only transaction"
            ),
            read_only_connection(engine) as connection,
        ):
            connection.exec_driver_sql(query)
    finally:
        engine.dispose()
