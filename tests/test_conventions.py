"""It behaves like the command-line tools its users already know: umask, config discovery, init."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tests.builders import item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A", name="Acme Offshore")],
    "work_items": [item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00")],
}


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def _modes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
        for p in [folder, *folder.rglob("*")]
    }


@pytest.mark.parametrize(
    ("mask", "file_mode", "folder_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_output_files_and_folders_follow_the_umask(
    umask, sqlite_url, tmp_path, scorecard_cli, mask, file_mode, folder_mode
):
    load(sqlite_url, ROWS)
    umask(mask)
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "html,csv,json")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "out" / AS_OF
    modes = _modes(run_dir)
    assert {"scores.csv", "manifest.json", "portfolio.html", "vendors"} <= set(modes)
    for name, mode in modes.items():
        expected = folder_mode if (run_dir / name).is_dir() else file_mode
        assert mode == expected, f"{name}: {oct(mode)} != {oct(expected)}"


def test_the_config_is_found_by_flag_then_variable_then_working_folder(
    sqlite_url, tmp_path, monkeypatch, scorecard_cli
):
    load(sqlite_url, ROWS)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flag.toml").write_text('[run]\noutput_dir = "from-flag"\n')
    (tmp_path / "env.toml").write_text('[run]\noutput_dir = "from-env"\n')
    (tmp_path / "scorecard.toml").write_text('[run]\noutput_dir = "from-cwd"\n')
    run = ["run", "--as-of", AS_OF, "--format", "csv", "--database-url", sqlite_url]  # no --out

    result = scorecard_cli(*run, "--config", "flag.toml", env={"SCORECARD_CONFIG": "env.toml"})
    assert result.exit_code == 0, result.output
    assert "scorecard: config: flag.toml (from --config)" in result.stderr
    assert (tmp_path / "from-flag" / AS_OF / "scores.csv").is_file()

    result = scorecard_cli(*run, env={"SCORECARD_CONFIG": "env.toml"})
    assert "scorecard: config: env.toml (from SCORECARD_CONFIG)" in result.stderr
    assert (tmp_path / "from-env" / AS_OF / "scores.csv").is_file()

    result = scorecard_cli(*run, env={"SCORECARD_CONFIG": ""})
    assert (
        "scorecard: config: scorecard.toml (from ./scorecard.toml in the working folder)"
        in result.stderr
    )
    assert (tmp_path / "from-cwd" / AS_OF / "scores.csv").is_file()

    (tmp_path / "scorecard.toml").unlink()
    result = scorecard_cli(*run, env={"SCORECARD_CONFIG": ""})
    assert (
        "scorecard: config: built-in defaults (no --config, no SCORECARD_CONFIG, no ./scorecard.toml)"
        in result.stderr
    )
    assert (tmp_path / "out" / AS_OF / "scores.csv").is_file()


def test_a_config_file_named_by_the_variable_must_exist(tmp_path, scorecard_cli):
    result = scorecard_cli("run", "--as-of", AS_OF, "--format", "csv", "--database-url", "sqlite://",
                           env={"SCORECARD_CONFIG": str(tmp_path / "nope.toml")})  # fmt: skip
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"scorecard: error: cannot read config file {tmp_path / 'nope.toml'}: No such file or directory\n"
    )


STARTER = Path(__file__).resolve().parents[1] / "scorecard" / "starter-config.toml"
# A commented setting: `# key = ...`, `# [table]` or `# [[array.of.tables]]`; other comments are prose.
_COMMENTED_SETTING = re.compile(r'^# (\[\[?[A-Za-z0-9_."<>-]+\]\]?|[A-Za-z0-9_."-]+ *=)')


def test_init_writes_the_starter_config_and_never_overwrites_silently(
    tmp_path, monkeypatch, scorecard_cli
):
    monkeypatch.chdir(tmp_path)
    first = scorecard_cli("init")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("wrote scorecard.toml: a starter config")
    written = (tmp_path / "scorecard.toml").read_text()
    assert written == STARTER.read_text()
    (tmp_path / "scorecard.toml").write_text("# mine\n")
    again = scorecard_cli("init")
    assert again.exit_code == 2
    assert (
        again.stderr
        == "scorecard: error: scorecard.toml exists already; edit it, or pass --force to replace it\n"
    )
    assert (tmp_path / "scorecard.toml").read_text() == "# mine\n"
    assert scorecard_cli("init", "--force").exit_code == 0
    assert (tmp_path / "scorecard.toml").read_text() == written


def test_the_starter_holds_only_what_a_company_fills_in_not_the_demo():
    from scorecard.config import read_config

    text = STARTER.read_text()
    demo = read_config(Path(__file__).resolve().parents[1] / "scorecard" / "example-config.toml")
    for demo_only in ("V-PH-MNL", *demo.contracts, "demo/scorecard.db", "demo/"):
        assert demo_only not in text, demo_only
    # Nothing said twice: no line of settings or prose appears two times.
    lines = [line.strip() for line in text.splitlines() if line.strip() not in ("", "#")]
    assert len(lines) == len(set(lines)), sorted({x for x in lines if lines.count(x) > 1})
    # As written it loads: a URL from the environment, never one in the file, and no
    # optional block switched on.
    config = read_config(STARTER)
    assert config.database.url_env == "SCORECARD_DATABASE_URL"
    assert config.database.url is None
    assert (config.contracts, config.in_house, config.source) == ({}, {}, {})
    assert config.currency.rates == {}
    assert config.reports.company_name is None
    uncommented = {line.split("]")[0] for line in text.splitlines() if line.startswith("[")}
    assert uncommented == {"[database", "[run", "[currency"}


def test_check_after_init_says_the_url_comes_from_scorecard_toml_and_what_to_put_there(
    tmp_path, monkeypatch, scorecard_cli
):
    monkeypatch.chdir(tmp_path)
    assert scorecard_cli("init").exit_code == 0
    result = scorecard_cli("check", env={"SCORECARD_DATABASE_URL": None, "SCORECARD_CONFIG": None})
    assert result.exit_code == 2, result.output
    assert result.stdout == (
        "ok    config: scorecard.toml (from ./scorecard.toml in the working folder): valid\n"
    )
    assert result.stderr == (
        "scorecard: error: no database URL: scorecard.toml names database.url_env = "
        "SCORECARD_DATABASE_URL, which is not set; set it to your database's SQLAlchemy URL "
        "(e.g. postgresql+psycopg://user@host/db), or pass --database-url\n"
    )


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (
            '[database]\nurl_env = "VENDOR_DB_URL"\n',
            {"VENDOR_DB_URL": ""},
            "{file} names database.url_env = VENDOR_DB_URL, which is empty; set it to your "
            "database's SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db), "
            "or pass --database-url",
        ),
        (
            '[run]\nperiod = "month"\n',
            {},
            "{file} gives neither database.url_env nor database.url; set SCORECARD_DATABASE_URL "
            "to your database's SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db), "
            "or pass --database-url",
        ),
    ],
)
def test_no_database_url_names_the_config_file_in_use_and_what_to_put_there(
    tmp_path, monkeypatch, toml, env, message
):
    from scorecard.config import read_config, resolve_database_url
    from scorecard.errors import ConfigError

    monkeypatch.delenv("SCORECARD_DATABASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    file = tmp_path / "mine.toml"
    file.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        resolve_database_url(None, read_config(file))
    assert str(caught.value) == "no database URL: " + message.format(file=file)


def _uncommented(text: str) -> str:
    """The starter with every commented setting switched on: what a user gets by deleting "# "."""
    return "\n".join(
        line[2:] if _COMMENTED_SETTING.match(line) else line for line in text.splitlines()
    )


def test_every_commented_block_of_the_starter_is_valid_when_uncommented(tmp_path):
    import tomllib

    from scorecard.config import Config, read_config

    text = _uncommented(STARTER.read_text())
    data = tomllib.loads(text)
    # Every block of the config is there, commented, for the user to find.
    blocks = set(Config.model_fields) - {"source_path", "origin"}
    assert set(data) == blocks
    for section, keys in {
        "database": {"url", "url_env", "statement_timeout_seconds", "parallel_queries"},
        "currency": {"base", "rates"},
        "scoring": {"weights", "bands", "standings", "governance_overhead"},
        "reports": {"company_name", "logo", "accent_colour", "template_dir", "locale"},
        "email": {"smtp_host", "sender", "portfolio_recipients", "vendor_contacts"},
        "source": {"work_items", "vendors", "requests", "charges"},
    }.items():
        assert keys <= set(data[section]), (section, keys - set(data[section]))
    # The logo and the template folder are read relative to the file: give them.
    from tests.test_branding import tiny_png

    (tmp_path / "logo.png").write_bytes(tiny_png())  # a whole PNG: its pixels are counted
    (tmp_path / "templates").mkdir()
    (tmp_path / "scorecard.toml").write_text(text)
    config = read_config(tmp_path / "scorecard.toml")
    assert config.currency.rates and config.in_house and config.contracts
    assert config.scoring.bands.cost.target < config.scoring.bands.cost.floor
    # A line the pattern above took for prose must not be a setting left behind.
    for line in text.splitlines():
        if line.startswith("#"):
            assert not re.match(r"^#\s*(\[|[A-Za-z0-9_.\"-]+ *= )", line), line


@pytest.mark.parametrize(
    ("key", "toml", "value"),
    [
        (
            "email.portfolio_recipients.1",
            'portfolio_recipients = ["cfo@example.com", "cfo-at-example.com"]',
            "cfo-at-example.com",
        ),
        ("email.sender", 'sender = "x@example.com."', "x@example.com."),
        ("email.vendor_contacts.V1", 'vendor_contacts = { V1 = "a@@b" }', "a@@b"),
    ],
)
def test_a_malformed_address_in_the_config_fails_check_naming_the_key(
    tmp_path, scorecard_cli, key, toml, value
):
    config = tmp_path / "c.toml"
    config.write_text(f"[email]\n{toml}\n")
    result = scorecard_cli("check", "--config", config, "--database-url", "sqlite://")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"scorecard: error: {config}: {key}: {value!r} is not an email address: "
    )


def test_good_addresses_pass_including_the_local_mail_system(tmp_path):
    from scorecard.config import config_from_mapping

    config = config_from_mapping(
        {
            "email": {
                "sender": "scorecard@localhost",
                "portfolio_recipients": ["Jürgen@bücher.de", "ops@corp.example"],
            }
        }
    )
    assert config.email.portfolio_recipients == ("Jürgen@bücher.de", "ops@corp.example")


def test_check_speaks_json_lines_when_asked(sqlite_url, scorecard_cli):
    load(sqlite_url, ROWS)
    result = scorecard_cli("check", "--database-url", sqlite_url, "--log-format", "json",
                           env={"SCORECARD_CONFIG": ""})  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    findings = [json.loads(line) for line in result.stdout.splitlines()]
    assert findings[0] == {
        "status": "ok",
        "check": "config: built-in defaults (no --config, no SCORECARD_CONFIG, no ./scorecard.toml): valid",
    }
    assert {f["status"] for f in findings} <= {"ok", "warn"}


def test_library_log_records_and_warnings_go_through_the_run_log():
    import io
    import json
    import logging
    import warnings

    from scorecard.log import RunLog, route_library_logs

    stream = io.StringIO()
    route_library_logs(RunLog("json", stream))
    logging.getLogger("weasyprint").warning("Ignored `gap: 1em` at 3:5, unknown property.")
    logging.getLogger("weasyprint").info("not a warning: left out")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # Earlier CLI tests captured warnings inside pytest's own capture; start afresh.
        logging.captureWarnings(False)
        logging.captureWarnings(True)
        warnings.warn("a library is unhappy", UserWarning, stacklevel=1)
    logging.captureWarnings(False)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["level"], r["logger"]) for r in records] == [
        ("warning", "weasyprint"),
        ("warning", "py.warnings"),
    ]
    assert records[0]["message"] == "Ignored `gap: 1em` at 3:5, unknown property."
    assert "UserWarning: a library is unhappy" in records[1]["message"]
    text = io.StringIO()
    route_library_logs(RunLog("text", text))
    logging.getLogger("sqlalchemy.engine").error("connection lost")
    assert text.getvalue() == "scorecard: error from sqlalchemy.engine: connection lost\n"


def test_a_fiscal_year_from_october_labels_quarters_fy_and_keeps_real_dates(
    sqlite_url, tmp_path, scorecard_cli
):
    import csv

    load(
        sqlite_url,
        {
            **ROWS,
            "work_items": [
                item("a1", "A", "2026-08-05 00:00", "2026-08-09 00:00", "2026-08-06 12:00")
            ],
        },
    )
    config = tmp_path / "fiscal.toml"
    config.write_text("[run]\nfiscal_year_start_month = 10\nhistory_periods = 1\n")
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "csv", config=config)
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / AS_OF / "scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    periods = {(r["period"], r["period_start"], r["period_end"], r["is_current"]) for r in rows}
    # As of 2026-09-30 the fiscal year from October is FY2026; its Q4 is July to September.
    assert periods == {
        ("FY2026-Q3", "2026-04-01", "2026-06-30", "false"),
        ("FY2026-Q4", "2026-07-01", "2026-09-30", "true"),
    }


# Literals that may name several KPIs outside the catalogue, and why (issue 23): the config
# validates weights against the contract's four dimensions without reading a stage, and the
# extract stage, which reads nothing of scoring/, holds the SQL that finds each built-in
# KPI's failed items and so which table they are in.
KPI_LISTS_ALLOWED = {("scorecard/config.py", "DIMENSIONS"), ("extract/evidence.py", "KPI_TABLE")}


def _kpi_lists(root: Path, names: set[str]) -> list[str]:
    """Each literal outside scoring/catalogue.py that lists two or more KPI or dimension names:
    a dict keyed by them whose values are constants (titles, words, tables), or a list, tuple
    or set of nothing but them. Such a list is a second catalogue a declared KPI never joins."""
    import ast

    found = []
    for package in ("extract", "scoring", "reports", "output", "scorecard"):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative == "scoring/catalogue.py":
                continue
            tree = ast.parse(path.read_text())
            targets = {
                id(node.value): target.id
                for node in ast.walk(tree)
                if isinstance(node, ast.Assign | ast.AnnAssign)
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name) and node.value is not None
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Dict):
                    keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
                    listed = [k for k in keys if k in names]
                    if len(listed) < 2 or not all(isinstance(v, ast.Constant) for v in node.values):
                        continue
                elif isinstance(node, ast.List | ast.Tuple | ast.Set):
                    listed = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                    if len(listed) < 2 or len(listed) != len(node.elts) or set(listed) - names:
                        continue
                else:
                    continue
                name = targets.get(id(node), "")
                if (relative, name) not in KPI_LISTS_ALLOWED:
                    found.append(f"{relative}:{node.lineno} {name or '(literal)'}: {listed}")
    return found


def test_no_list_of_kpis_outside_the_catalogue(tmp_path):
    """What each KPI is called, how the why line and a missed level's items name it, lives in
    scoring/catalogue.py, so a declared KPI gets it without anyone editing a list. The check
    is shown to catch such a list (a check that cannot fail proves nothing)."""
    from scorecard.config import DIMENSIONS
    from scoring.catalogue import BUILT_IN

    root = Path(__file__).resolve().parents[1]
    names = {kpi.name for kpi in BUILT_IN} | set(DIMENSIONS)
    assert _kpi_lists(root, names) == []
    for package in ("extract", "scoring", "reports", "output", "scorecard"):
        (tmp_path / package).mkdir()
    (tmp_path / "reports" / "credits.py").write_text(
        'ITEMS_BEHIND = {"on_time_rate": "late", "accuracy": "with defects"}\n'
        'def f(row):\n    return {"accuracy": row["a"], "speed": row["s"]}\n'
    )
    (tmp_path / "scoring" / "table.py").write_text('RATES = ["accuracy", "on_time_rate"]\n')
    assert _kpi_lists(tmp_path, names) == [
        "scoring/table.py:1 RATES: ['accuracy', 'on_time_rate']",
        "reports/credits.py:1 ITEMS_BEHIND: ['on_time_rate', 'accuracy']",
    ]
