"""The command line: exit codes and messages exactly as users and cron jobs see them."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import sys

import pytest
from sqlalchemy import create_engine, text

from scorecard.config import config_from_mapping
from scorecard.errors import ConfigError
from scoring.table import CONTRACT_COLUMNS
from tests.builders import charge, item, load, request, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A", name="Acme Offshore"), vendor("H", "in_house", name="Support In-house")],
    "work_items": [
        item("w1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", units=10, qa=10, defects=1),
        item("w2", "A", "2026-04-01 00:00", "2026-04-02 00:00", "2026-04-01 12:00", units=10, qa=10),
        item("h1", "H", "2026-07-05 00:00", "2026-07-06 00:00", "2026-07-05 12:00", units=4, qa=4),
    ],
    "requests": [request("r1", "A", "urgent", "2026-07-01 00:00", "2026-07-01 00:30")],
    "charges": [charge("c1", "A", "2026-07-01", "2026-07-31", 50.0), charge("h1", "H", "2026-07-01", "2026-07-31", 80.0)],
}  # fmt: skip


@pytest.fixture
def database(sqlite_url) -> str:
    load(sqlite_url, ROWS)
    return sqlite_url


NO_URL_ENV = {"SCORECARD_DATABASE_URL": ""}
"""The command here ignores any SCORECARD_DATABASE_URL of the shell running the tests."""


def error_line(result) -> str:
    """The final line on stderr: the error, after any progress lines."""
    return result.stderr.splitlines()[-1] + "\n"


def test_run_writes_the_whole_run_folder_and_exits_0(database, tmp_path, scorecard_cli):
    result = scorecard_cli.run(database, tmp_path, env=NO_URL_ENV)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / AS_OF
    files = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    assert files == [
        "data_quality.csv", "manifest.json", "portfolio.html", "portfolio.pdf", "scores.csv",
        "scores.json", "vendor-facing/acme-offshore_a.html", "vendor-facing/acme-offshore_a.pdf",
        "vendors/acme-offshore_a.html", "vendors/acme-offshore_a.pdf",
        "vendors/support-in-house_h.html", "vendors/support-in-house_h.pdf",
    ]  # fmt: skip
    assert "exit 0 (all done)" in result.stdout
    assert not list(tmp_path.glob(".*staging*")), "no staging folder may be left behind"


def test_scores_csv_has_the_contract_columns_first_and_json_the_same_rows(
    database, tmp_path, scorecard_cli
):
    assert (
        scorecard_cli.run(database, tmp_path, "--format", "csv,json", env=NO_URL_ENV).exit_code == 0
    )
    with (tmp_path / AS_OF / "scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0])
    assert header[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    data = json.loads((tmp_path / AS_OF / "scores.json").read_text())
    assert len(data) == len(rows)
    assert [r["vendor_id"] for r in data] == [r["vendor_id"] for r in rows]
    a_all = next(
        r
        for r in rows
        if r["vendor_id"] == "A" and r["process"] == "ALL" and r["period"] == "2026-Q3"
    )
    # One work item is fewer than scoring.min_rank_items (30): scored, listed, not ranked.
    assert a_all["accuracy"] == "0.9" and a_all["rank"] == "" and a_all["is_current"] == "true"
    assert a_all["composite_score"] != ""
    # After the contract's columns: the previous period's rate and whether the change is real.
    assert header.index("previous_accuracy") > len(CONTRACT_COLUMNS)
    assert a_all["previous_accuracy"] == "1.0" and a_all["accuracy_change_significant"] == "false"
    # A null is an empty cell in the CSV and null in the JSON.
    h_all = next(
        r
        for r in data
        if r["vendor_id"] == "H" and r["process"] == "ALL" and r["period"] == "2026-Q3"
    )
    assert h_all["rank"] is None and h_all["responsiveness_score"] is None
    h_csv = next(
        r
        for r in rows
        if r["vendor_id"] == "H" and r["process"] == "ALL" and r["period"] == "2026-Q3"
    )
    assert h_csv["rank"] == ""


def test_format_limits_the_outputs_but_data_quality_and_manifest_are_always_written(
    database, tmp_path, scorecard_cli
):
    result = scorecard_cli.run(database, tmp_path, "--format", "csv", env=NO_URL_ENV)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / AS_OF).iterdir()) == [
        "data_quality.csv", "manifest.json", "scores.csv",
    ]  # fmt: skip


def test_manifest_records_tables_config_and_every_artifact_with_its_sha256(
    database, tmp_path, scorecard_cli
):
    assert (
        scorecard_cli.run(database, tmp_path, "--format", "csv,html", env=NO_URL_ENV).exit_code == 0
    )
    run_dir = tmp_path / AS_OF
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["as_of"] == AS_OF and manifest["period"] == "quarter"
    assert manifest["tables"]["work_items"] == {
        "rows_read": 3,
        "rows_accepted": 3,
        "rows_rejected": 0,
    }
    paths = {a["path"] for a in manifest["artifacts"]}
    assert paths == {
        p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()
    } - {"manifest.json"}
    for artifact in manifest["artifacts"]:
        assert (
            hashlib.sha256((run_dir / artifact["path"]).read_bytes()).hexdigest()
            == artifact["sha256"]
        )
    assert manifest["emails"] == [] and manifest["exit_code"] == 0
    assert [p["label"] for p in manifest["periods"]][-1] == "2026-Q3"


def test_a_bad_config_exits_2_naming_the_key(database, tmp_path, scorecard_cli):
    config = tmp_path / "bad.toml"
    config.write_text("[scoring.weights]\naccuracy = -1\n")
    result = scorecard_cli.run(database, tmp_path, config=config, env=NO_URL_ENV)
    assert result.exit_code == 2
    assert error_line(result) == (
        f"scorecard: error: {config}: scoring.weights.accuracy: Input should be greater than or equal to 0\n"
    )


def test_an_unknown_config_key_exits_2(database, tmp_path, scorecard_cli):
    config = tmp_path / "typo.toml"
    config.write_text("[run]\nperiods = 'month'\n")
    result = scorecard_cli.run(database, tmp_path, config=config, env=NO_URL_ENV)
    assert result.exit_code == 2
    assert "run.periods: unknown key" in result.stderr


def test_a_misspelt_config_key_is_named_with_the_key_it_is_closest_to(tmp_path, scorecard_cli):
    config = tmp_path / "typo.toml"
    config.write_text('[run]\nperod = "month"\n')
    result = scorecard_cli("check", "--config", config, env=NO_URL_ENV)
    assert result.exit_code == 2
    assert error_line(result) == (
        f"scorecard: error: {config}: run.perod: unknown key; did you mean period?\n"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # The misspelling, not the "field required" it leaves behind.
        ({"scoring": {"bands": {"speed": {"flor": 0.8, "target": 0.9}}}},
         "scoring.bands.speed.flor: unknown key; did you mean floor?"),
        ({"source": {"vendors": {"from_activity": True, "overrides": {"A": {"nmae": "x"}}}}},
         "source.vendors.overrides.A.nmae: unknown key; did you mean name?"),
        # A column constant is one member of a union: pydantic's name for it is left out.
        ({"source": {"vendors": {"table": "v", "columns": {"name": {"valeu": "x"}}}}},
         "source.vendors.columns.name.valeu: unknown key; did you mean value?"),
        ({"databse": {"url": "sqlite://"}}, "databse: unknown key; did you mean database?"),
        ({"run": {"zzz": 1}}, "run.zzz: unknown key, and no key of this section is spelled "
                              "like it: check the section"),
    ],
)  # fmt: skip
def test_unknown_keys_anywhere_suggest_the_closest_key_there(data, message):
    with pytest.raises(ConfigError) as refused:
        config_from_mapping(data, "c.toml")
    assert str(refused.value) == f"c.toml: {message}"


def test_a_password_in_the_config_file_is_refused(tmp_path, scorecard_cli):
    config = tmp_path / "secret.toml"
    config.write_text('[database]\nurl = "postgresql://app:hunter2@db/prod"\n')
    result = scorecard_cli("run", "--config", config, "--out", tmp_path, env=NO_URL_ENV)
    assert result.exit_code == 2
    assert "database.url: holds a literal password" in result.stderr
    assert "hunter2" not in result.output


def test_no_database_url_anywhere_exits_2(tmp_path, scorecard_cli):
    result = scorecard_cli("run", "--out", tmp_path, env=NO_URL_ENV)
    assert result.exit_code == 2
    assert error_line(result).startswith(
        "scorecard: error: no database URL: pass --database-url, set SCORECARD_DATABASE_URL"
    )


HEROKU_URL = "postgres://app:hunter2@db.example.com:5432/prod"


@pytest.mark.parametrize(
    ("where", "origin"),
    [
        ("option", "--database-url"),
        ("environment", "SCORECARD_DATABASE_URL"),
        ("url_env", "DATABASE_URL"),
        ("config", "database.url"),
    ],
)
def test_a_postgres_scheme_says_what_to_write_and_where_it_came_from(
    where, origin, tmp_path, scorecard_cli
):
    config = tmp_path / "scorecard.toml"
    config.write_text(
        {
            "url_env": '[database]\nurl_env = "DATABASE_URL"\n',
            "config": '[database]\nurl = "postgres://db.example.com/prod"\n',
        }.get(where, "")
    )
    given = ["--database-url", HEROKU_URL] if where == "option" else []
    env = {**NO_URL_ENV, "SCORECARD_DATABASE_URL": HEROKU_URL if where == "environment" else ""}
    env["DATABASE_URL"] = HEROKU_URL
    result = scorecard_cli("run", "--config", config, *given, "--out", tmp_path, env=env)
    assert result.exit_code == 2, result.output
    if where == "config":
        assert error_line(result) == (
            f"scorecard: error: {config}: database.url: SQLAlchemy 2 does not accept postgres://; "
            "write postgresql+psycopg:// in its place (postgresql+psycopg://db.example.com/prod)\n"
        )
    else:
        assert error_line(result) == (
            f"scorecard: error: {origin}: SQLAlchemy 2 does not accept postgres://; write "
            "postgresql+psycopg:// in its place "
            "(postgresql+psycopg://app:***@db.example.com:5432/prod)\n"
        )
    assert "hunter2" not in result.output


def test_a_scheme_without_its_dialect_or_driver_says_what_to_install(
    tmp_path, monkeypatch, scorecard_cli
):
    result = scorecard_cli.run("nosuchdb://db/prod", tmp_path, env=NO_URL_ENV)
    assert result.exit_code == 2, result.output
    assert error_line(result) == (
        "scorecard: error: database URL nosuchdb://db/prod: no SQLAlchemy dialect for "
        "nosuchdb:// is installed (check the scheme, e.g. postgresql+psycopg://, "
        "mysql+pymysql://, sqlite:///, duckdb:///, or install the package that provides the "
        "dialect)\n"
    )
    monkeypatch.setitem(sys.modules, "pymysql", None)  # as if PyMySQL were not installed
    result = scorecard_cli.run("mysql+pymysql://db/prod", tmp_path, env=NO_URL_ENV)
    assert result.exit_code == 2, result.output
    assert error_line(result) == (
        "scorecard: error: database URL mysql+pymysql://db/prod needs the Python driver "
        "'pymysql': install it beside scorecard (its extra [mysql] brings it)\n"
    )


def test_the_environment_variable_gives_the_url(database, tmp_path, scorecard_cli):
    result = scorecard_cli("run", "--as-of", AS_OF, "--out", tmp_path, "--format", "csv",
                           env={"SCORECARD_DATABASE_URL": database})  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--as-of", "30/09/2026"],
            "scorecard: error: --as-of: '30/09/2026' is not a date in the form YYYY-MM-DD\n",
        ),
        (
            ["--format", "pdf,docx"],
            "scorecard: error: --format: docx is not one of pdf,html,csv,json\n",
        ),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(database, tmp_path, scorecard_cli, args, message):
    result = scorecard_cli(
        "run", "--database-url", database, "--out", tmp_path, *args, env=NO_URL_ENV
    )
    assert result.exit_code == 2
    assert error_line(result) == message


def test_a_bad_period_choice_is_a_usage_error(database, tmp_path, scorecard_cli):
    result = scorecard_cli.run(database, tmp_path, "--period", "week", env=NO_URL_ENV)
    assert result.exit_code == 2
    assert "'week' is not one of 'month', 'quarter'" in result.stderr


def test_a_missing_table_exits_3(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).connect().close()
    result = scorecard_cli.run(url, tmp_path / "out", env=NO_URL_ENV)
    assert result.exit_code == 3
    assert (
        error_line(result)
        == "scorecard: error: tables vendors, work_items, requests, charges are missing from the "
        "database (run scorecard init-db?)\n"
    )
    assert not (tmp_path / "out" / AS_OF).exists()


def test_a_missing_column_exits_3(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'partial.db'}"
    load(url, {})
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE charges DROP COLUMN kind"))
    engine.dispose()
    result = scorecard_cli.run(url, tmp_path / "out", env=NO_URL_ENV)
    assert result.exit_code == 3
    assert (
        error_line(result) == "scorecard: error: column charges.kind is missing from the database\n"
    )


def test_an_unreachable_server_exits_3_without_showing_the_password(tmp_path, scorecard_cli):
    url = "postgresql+psycopg://app:s3cret@127.0.0.1:1/nothing"
    result = scorecard_cli.run(url, tmp_path, env=NO_URL_ENV)
    assert result.exit_code == 3
    assert error_line(result).startswith(
        "scorecard: error: cannot connect to postgresql+psycopg://app:***@127.0.0.1:1/nothing: "
    )
    assert "s3cret" not in result.output


def test_a_run_while_another_holds_the_lock_exits_4_and_writes_nothing(
    database, tmp_path, scorecard_cli
):
    tmp_path.mkdir(exist_ok=True)
    with (tmp_path / ".scorecard.lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = scorecard_cli.run(database, tmp_path, env=NO_URL_ENV)
    assert result.exit_code == 4
    assert (
        error_line(result)
        == f"scorecard: error: another scorecard run holds the lock {tmp_path / '.scorecard.lock'}\n"
    )
    assert not (tmp_path / AS_OF).exists()


def test_rejections_beyond_the_limit_exit_1_but_everything_is_written(
    sqlite_url, tmp_path, scorecard_cli
):
    rows = dict(ROWS) | {
        "work_items": [*ROWS["work_items"], item("bad", "NOPE", "2026-07-01 00:00", None, None)]
    }
    load(sqlite_url, rows)
    result = scorecard_cli.run(sqlite_url, tmp_path, "--format", "csv", env=NO_URL_ENV)
    assert result.exit_code == 1
    assert (
        "problem: 1 of 4 work_items rows rejected (25.0%, limit 5.0%): see data_quality.csv"
        in result.stderr
    )
    quality = (tmp_path / AS_OF / "data_quality.csv").read_text()
    assert "work_items,unknown_vendor,NOPE,1,bad" in quality
    assert json.loads((tmp_path / AS_OF / "manifest.json").read_text())["exit_code"] == 1


def test_no_activity_in_the_periods_fails_instead_of_writing_empty_reports(
    database, tmp_path, scorecard_cli
):
    result = scorecard_cli.run(
        database, tmp_path, "--format", "csv", as_of="2020-01-31", env=NO_URL_ENV
    )
    assert result.exit_code == 1
    problem = next(line for line in result.stderr.splitlines() if "nothing to score" in line)
    assert problem.startswith(
        "scorecard: problem: nothing to score from 2019-01-01 to 2020-01-31: the work items "
        "were received from 2026-"
    )
    assert problem.endswith("(check --as-of and --period)")
    run_dir = tmp_path / "2020-01-31"
    assert sorted(p.name for p in run_dir.iterdir()) == ["data_quality.csv", "manifest.json"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["exit_code"] == 1 and manifest["problems"] == [problem.split("problem: ")[1]]
    assert not (tmp_path / "latest").exists()


def test_every_row_rejected_says_which_rule_rejected_the_most(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, {
        "vendors": [vendor("A")],
        "work_items": [item(f"w{n}", "A", "2026-07-01 00:00", None, None, units=0) for n in range(3)]
        + [item("x", "NOPE", "2026-07-01 00:00", None, None)],
    })  # fmt: skip
    result = scorecard_cli.run(sqlite_url, tmp_path, "--format", "csv", env=NO_URL_ENV)
    assert result.exit_code == 1
    assert (
        "scorecard: problem: nothing to score from 2025-07-01 to 2026-09-30: all 4 work items "
        "read were rejected; the rule rejecting the most rows is work_items bad_units: 3 rows; "
        "see data_quality.csv"
    ) in result.stderr
    quality = (tmp_path / AS_OF / "data_quality.csv").read_text()
    assert 'work_items,unknown_vendor,NOPE,1,x,"""NOPE"" x1"' in quality


def test_a_rerun_replaces_the_folder_for_that_day(database, tmp_path, scorecard_cli):
    assert scorecard_cli.run(database, tmp_path, env=NO_URL_ENV).exit_code == 0
    (tmp_path / AS_OF / "stale.txt").write_text("from an older run")
    assert scorecard_cli.run(database, tmp_path, "--format", "csv", env=NO_URL_ENV).exit_code == 0
    assert not (tmp_path / AS_OF / "stale.txt").exists()
    assert not (tmp_path / AS_OF / "portfolio.pdf").exists()


def test_init_db_creates_the_tables_and_demo_data_will_not_overwrite_rows(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = scorecard_cli("init-db", "--database-url", url, env=NO_URL_ENV)
    assert result.exit_code == 0 and result.stdout == f"created the canonical tables in {url}\n"
    load(url, {"vendors": [vendor("A")]})
    result = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.02", env=NO_URL_ENV)
    assert result.exit_code == 2
    assert error_line(result) == (
        "scorecard: error: the database already holds rows in vendors; demo-data only fills "
        "empty tables (pass --replace to drop and recreate the canonical tables)\n"
    )


def test_demo_data_is_reproducible_from_its_seed(tmp_path, scorecard_cli):
    dumps = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path / name}.db"
        result = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.02",
                               "--seed", "3", "--through", AS_OF, env=NO_URL_ENV)  # fmt: skip
        assert result.exit_code == 0, result.output
        engine = create_engine(url)
        with engine.connect() as connection:
            dumps.append(
                connection.execute(
                    text("SELECT * FROM work_items ORDER BY work_item_id")
                ).fetchall()
            )
        engine.dispose()
    assert dumps[0] == dumps[1] and len(dumps[0]) > 500


def test_version_and_help(scorecard_cli):
    assert scorecard_cli("--version", env=NO_URL_ENV).stdout.startswith("scorecard, version ")
    result = scorecard_cli("--help", env=NO_URL_ENV)
    assert result.exit_code == 0
    for command in ("run", "init-db", "demo-data", "demo"):
        assert command in result.stdout


def test_demo_data_that_cannot_be_written_says_the_databases_own_reason(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'demo.db'}"
    result = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.01")
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines()[-1] == (
        f"scorecard: error: cannot write demo data to {url}: unable to open database file"
    )


def test_demo_with_csv_only_writes_no_emails_and_asks_for_no_send(tmp_path, scorecard_cli):
    """The demo writes the .eml files it would send only when there is a document to attach."""
    result = scorecard_cli("demo", "--dir", tmp_path / "demo", "--format", "csv")
    assert result.exit_code == 0, result.output
    out = tmp_path / "demo" / "out"
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    assert (run_dir / "scores.csv").is_file()
    assert not (run_dir / "emails").exists()


UNSCORED_ROWS = {
    **ROWS,
    "vendors": [*ROWS["vendors"], vendor("Z", name="Zeta Idle")],
    # Completed, but with no due date, no quality check and no charge: nothing of Zeta Idle's
    # can be scored in any period.
    "work_items": [
        *ROWS["work_items"],
        item("z1", "Z", "2026-07-03 00:00", None, "2026-07-04 00:00"),
    ],
}


def test_a_vendor_not_scored_in_any_period_is_listed_in_the_pack_with_no_scorecard(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, UNSCORED_ROWS)
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "html,csv")
    assert result.exit_code == 0, result.output
    assert "1 vendor not scored in any period: listed in the pack, no scorecard" in result.output
    run_dir = tmp_path / "out" / AS_OF
    assert (run_dir / "vendors" / "acme-offshore_a.html").exists()
    assert not list(run_dir.glob("vendors/zeta-idle_z.*"))
    assert not list(run_dir.glob("vendor-facing/zeta-idle_z.*"))
    pack = (run_dir / "portfolio.html").read_text()
    assert "Not scored in any period: 1 vendor" in pack
    assert "Zeta Idle" in pack and "none of its work could be measured" in pack
    assert 'href="vendors/zeta-idle_z.html"' not in pack
    with (run_dir / "scores.csv").open() as handle:
        zeta = [r for r in csv.DictReader(handle) if r["vendor_id"] == "Z"]
    assert zeta and all(r["composite_score"] == "" for r in zeta if r["process"] == "ALL")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert not [a for a in manifest["artifacts"] if "zeta-idle_z" in a["path"]]


def test_vendor_selection_of_a_vendor_not_scored_in_any_period_is_a_usage_error(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, UNSCORED_ROWS)
    assert scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "html").exit_code == 0
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "html", "--vendor", "Z")
    assert result.exit_code == 2, result.output
    assert "--vendor Z: nothing scored in any period" in result.output


def test_a_vendor_not_scored_in_any_period_is_not_named_as_missing_a_manager():
    import datetime as dt

    from reports.build import ReportInputs, unscored_vendors
    from reports.messages import vendors_without_manager
    from scoring.periods import periods_for
    from scoring.table import score_table
    from tests.builders import extracted, make_config

    periods = periods_for(dt.date(2026, 9, 30), "quarter", 1)
    config = make_config()
    data = extracted(UNSCORED_ROWS, periods, config)
    table = score_table(data, periods, config)
    assert unscored_vendors(table) == ["Z"]
    inputs = ReportInputs(table, data, periods, config, dt.date(2026, 9, 30))
    # No vendor here has a manager_email; Z has no scorecard, so none fails to reach anyone.
    assert vendors_without_manager(inputs) == ["A", "H"]
