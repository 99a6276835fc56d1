"""The public API (scorecard.load_config, run, check, score) and the one config every stage
reads: overrides applied once, every usage error found before the database is touched."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator

import pytest

import scorecard
from scorecard.errors import ConfigError
from tests.builders import charge, item, load, request, vendor
from tests.conftest import AS_OF

ROWS = {
    "vendors": [vendor("A", name="Acme Offshore"), vendor("H", "in_house", name="Support In-house")],
    "work_items": [
        item("w1", "A", "2026-09-01 00:00", "2026-09-02 00:00", "2026-09-01 12:00", units=10, qa=10, defects=1),
        item("w2", "A", "2026-08-01 00:00", "2026-08-02 00:00", "2026-08-01 12:00", units=10, qa=10),
        item("h1", "H", "2026-09-05 00:00", "2026-09-06 00:00", "2026-09-05 12:00", units=4, qa=4),
    ],
    "requests": [request("r1", "A", "urgent", "2026-09-01 00:00", "2026-09-01 00:30")],
    "charges": [charge("c1", "A", "2026-09-01", "2026-09-30", 50.0)],
}  # fmt: skip


@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A PostgreSQL URL whose server is a bare socket of ours: any connection shows up on it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        yield f"postgresql+psycopg://nobody@127.0.0.1:{port}/nothing?connect_timeout=2", server
    finally:
        server.close()


def _connections(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = server.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


CONTACTS_WITHOUT_FACING = """
[reports]
vendor_facing = false
[email]
vendor_contacts = { A = "contact@acme.example" }
"""
WRITING_QUERY = """
[source.work_items]
query = "DELETE FROM work_items RETURNING *"
"""


@pytest.mark.parametrize(
    ("config_text", "args", "message"),
    [
        ("", ["--send", "--format", "csv"],
         "--send needs pdf or html among the formats: there is nothing to attach"),
        ("", ["--email-dry-run", "--format", "csv,json"],
         "--send needs pdf or html among the formats: there is nothing to attach"),
        ("", ["--no-portfolio"], "--no-portfolio goes with --vendor ID (the scorecards to render again)"),
        ("", ["--resend"], "--resend goes with --send (a backfill's emails) or --vendor ID (the scorecards to render again)"),
        ("", ["--format", "xml"], "--format: xml is not one of pdf,html,csv,json"),
        ("", ["--period", "week"], "Invalid value for '--period'"),
        ("", ["--as-of", "2026-02-30"], "--as-of: '2026-02-30' is not a day of the calendar (day is out of range for month)"),
        (CONTACTS_WITHOUT_FACING, ["--send"],
         "email.vendor_contacts needs reports.vendor_facing = true: only the vendor-facing scorecard may go to a vendor"),
        (WRITING_QUERY, [], "source.work_items.query: must be a SELECT (or WITH ... SELECT) statement"),
    ],
)  # fmt: skip
def test_every_usage_error_exits_2_before_the_database_is_touched(
    scorecard_cli, listener, tmp_path, config_text, args, message
):
    url, server = listener
    config = tmp_path / "scorecard.toml"
    config.write_text(config_text)
    ran = scorecard_cli(
        "run", "--config", config, "--database-url", url, "--out", tmp_path / "out", *args
    )
    assert ran.exit_code == 2, ran.output
    assert message in ran.stderr.splitlines()[-1]
    assert _connections(server) == 0
    assert not (tmp_path / "out").exists()


def test_the_listener_does_see_a_connection(scorecard_cli, listener, tmp_path):
    """The proof above could not fail if the socket never saw anything: a real run connects."""
    url, server = listener
    ran = scorecard_cli.run(url, tmp_path / "out", "--format", "csv",
                            env={"SCORECARD_DATABASE_URL": ""})  # fmt: skip
    assert ran.exit_code == 3  # the socket never answers like PostgreSQL
    assert _connections(server) >= 1


def test_period_month_on_the_command_line_says_month_everywhere(
    scorecard_cli, sqlite_url, tmp_path
):
    load(sqlite_url, ROWS)
    out = tmp_path / "out"
    ran = scorecard_cli.run(sqlite_url, out, "--period", "month", "--format", "html,csv")
    assert ran.exit_code == 0, ran.output
    manifest = json.loads((out / AS_OF / "manifest.json").read_text())
    assert manifest["period"] == "month" and manifest["config"]["run"]["period"] == "month"
    assert [p["label"] for p in manifest["periods"]][-1] == "2026-09"
    pack = (out / AS_OF / "portfolio.html").read_text()
    assert "Vendor performance review · month 2026-09" in pack
    assert "quarter" not in pack.lower()
    scorecards = list((out / AS_OF / "vendors").glob("*.html"))
    assert scorecards and all(
        "Vendor scorecard · month 2026-09" in p.read_text() for p in scorecards
    )


def test_the_readme_example_runs(sqlite_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load(sqlite_url, ROWS)
    config = scorecard.load_config(
        None, period="month", formats=["csv"], output_dir=tmp_path / "out"
    )
    assert config.run.period == "month" and config.run.formats == ("csv",)
    assert config.origin.startswith("config: built-in defaults")
    lines: list[str] = []
    result = scorecard.run(config, database_url=sqlite_url, as_of=dt.date(2026, 9, 30),
                           progress=lines.append)  # fmt: skip
    assert isinstance(result, scorecard.RunResult)
    assert result.exit_code == 0 and result.problems == []
    assert result.run_dir == tmp_path / "out" / AS_OF
    assert set(result.artifacts) == {"scores.csv", "data_quality.csv", "manifest.json"}
    assert result.counts["work_items"] == {"rows_read": 3, "rows_accepted": 3, "rows_rejected": 0}
    assert lines[0] == config.origin and any(line.startswith("scored ") for line in lines)
    checked = scorecard.check(config, database_url=sqlite_url, max_age_hours=1)
    assert isinstance(checked, scorecard.CheckResult) and checked.ok
    assert checked.findings[-1].text.startswith(f"last successful run: {AS_OF}")
    scores = scorecard.score(config, database_url=sqlite_url, as_of=dt.date(2026, 9, 30))
    assert scores.scored.vendor_ids == ["A", "H"]
    assert scores.scored.table.height > 0


def test_an_override_is_validated_and_its_error_names_the_option():
    with pytest.raises(ConfigError, match=r"^--period: Input should be 'month' or 'quarter'"):
        scorecard.load_config(None, period="week")
    with pytest.raises(ConfigError, match=r"^--format: xml is not one of pdf,html,csv,json$"):
        scorecard.load_config(None, formats="pdf,xml")


@pytest.mark.integration  # a process of its own, as a user's script is
def test_the_readme_example_runs_as_a_script_of_its_own(sqlite_url, tmp_path):
    """The README's block, saved as a file and run: the render workers import the script, so
    the guard it shows is what keeps them from starting the run again."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    block = re.search(r"### From Python\n.*?```python\n(.*?)```", readme, re.S)
    assert block is not None
    load(sqlite_url, ROWS)
    (tmp_path / "scorecard.toml").write_text(f'[database]\nurl = "{sqlite_url}"\n')
    script = tmp_path / "nightly.py"
    script.write_text(block.group(1))
    ran = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, check=False, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert f"out/{AS_OF} 0 []" in ran.stdout.splitlines()
    assert (tmp_path / "out" / AS_OF / "portfolio.pdf").stat().st_size > 0


def test_a_config_named_from_python_says_so_not_config_option(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[run]\nperiod = "month"\n')
    config = scorecard.load_config(path)
    assert config.origin == f"config: {path} (from load_config(path))"
