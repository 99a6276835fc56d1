"""Issue 10 probes: nothing goes to the wrong person, no secret leaks, one bad value never stops the night."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import polars as pl
import pytest

from extract.source import open_engine, redact_url
from output.files import publish_run_folder, restore_unpublished_run
from output.tables import csv_bytes
from reports.vendor import peer_ranges
from reports.view import vendor_slugs
from scorecard.config import config_from_mapping
from scorecard.errors import ConfigError
from tests.builders import item, load, vendor
from tests.mounts import tmpfs

AS_OF = "2026-09-30"


def test_slugs_are_unique_even_when_a_name_equals_another_names_clash_suffix():
    slugs = vendor_slugs(
        [("V-PH-MNL", "Acme"), ("V-IN-PNQ", "Acme"), ("V-US-NYC", "Acme V-PH-MNL")]
    )
    assert len(set(slugs.values())) == 3, slugs
    assert slugs["V-US-NYC"] == "acme-v-ph-mnl_v-us-nyc"


def test_a_rename_never_changes_another_vendors_file_name():
    # Issue 27 point 8: "Acme" renamed to Manila's name took "manila" from Manila.
    before = vendor_slugs([("V-PH-MNL", "Manila Ops"), ("V-IN-PNQ", "Acme"), ("V-US-NYC", "Zeta")])
    after = vendor_slugs(
        [("V-PH-MNL", "Manila Ops"), ("V-IN-PNQ", "Manila Ops"), ("V-US-NYC", "Zeta")]
    )
    assert after["V-PH-MNL"] == before["V-PH-MNL"] == "manila-ops_v-ph-mnl"
    assert after["V-US-NYC"] == before["V-US-NYC"]
    assert after["V-IN-PNQ"] == "manila-ops_v-in-pnq" != before["V-IN-PNQ"]
    # Adding or dropping a vendor changes no one else's either.
    assert vendor_slugs([("V-PH-MNL", "Manila Ops")])["V-PH-MNL"] == before["V-PH-MNL"]


def test_all_cjk_names_and_ids_get_distinct_non_empty_slugs():
    slugs = vendor_slugs([("供应商一", "株式会社東京"), ("供应商二", "北京外包")])
    assert len(set(slugs.values())) == 2 and all(s.strip("-") for s in slugs.values()), slugs


def test_ids_that_slug_alike_never_share_a_file():
    slugs = vendor_slugs([("V.1", "Same"), ("V-1", "Same"), ("v_1", "Same")])
    assert len(set(slugs.values())) == 3, slugs


def test_file_names_stay_short_whatever_the_name():
    slugs = vendor_slugs([("A", "&" * 100), ("B", "x" * 300), ("C", "x" * 300)])
    assert all(len(s) <= 120 for s in slugs.values()), slugs
    assert len(set(slugs.values())) == 3


def _peer_table(scores: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period": ["2026-Q3"] * len(scores),
            "process": ["support"] * len(scores),
            "vendor_id": list(scores),
            "sourcing": ["offshore"] * len(scores),
            "composite_score": list(scores.values()),
        }
    )


@pytest.mark.parametrize("others", [1, 2])
def test_a_vendor_never_sees_a_figure_from_fewer_than_three_peers(others):
    scores = {"ME": 80.0} | {f"P{n}": 59.0 + n for n in range(others)}
    (peers,) = peer_ranges(_peer_table(scores), "ME", "2026-Q3", ["support"])
    assert not {"59", "60"} & set(peers["range"].replace("–", " ").split()), peers
    assert peers["range"] == "not shown: fewer than 3 other vendors"


def test_three_peers_give_a_range():
    scores = {"ME": 80.0, "P1": 59.0, "P2": 70.0, "P3": 65.0}
    (peers,) = peer_ranges(_peer_table(scores), "ME", "2026-Q3", ["support"])
    assert peers["range"] == "59–70"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://scorer@db.example.com/ops?password=s3cr3t-pw",
        "postgresql://scorer@db.example.com/ops?sslpassword=s3cr3t-pw&sslmode=require",
        "postgresql://scorer:s3cr3t-pw@db.example.com/ops",
    ],
)
def test_redacted_urls_never_show_a_password(url):
    assert "s3cr3t-pw" not in redact_url(url)
    assert "db.example.com" in redact_url(url)


def test_a_missing_driver_is_named_with_a_way_to_install_it_that_works():
    if find_spec("pg8000") is not None:
        pytest.skip("pg8000 is installed here: no missing driver to report")
    with pytest.raises(ConfigError) as raised:
        open_engine("postgresql+pg8000://scorer:s3cr3t-pw@db.example.com/ops")
    message = str(raised.value)
    assert "'pg8000'" in message
    assert "s3cr3t-pw" not in message
    # Not `pip install 'vendor-scorecard[...]'`: the distribution is not on PyPI.
    assert "vendor-scorecard" not in message
    assert "[postgresql]" in message


def test_a_query_string_password_reaches_no_log_manifest_or_check(
    tmp_path, sqlite_url, scorecard_cli
):
    load(sqlite_url, {"vendors": [vendor("A")], "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)]})  # fmt: skip
    url = sqlite_url + "?password=s3cr3t-pw"
    out = tmp_path / "out"
    run = scorecard_cli.run(url, out, "--format", "csv")
    assert run.exit_code in (0, 3), run.output
    assert "s3cr3t-pw" not in run.output + run.stderr
    for manifest in out.rglob("manifest.json"):
        assert "s3cr3t-pw" not in manifest.read_text()
    check = scorecard_cli("check", "--database-url", url)
    assert "s3cr3t-pw" not in check.output + check.stderr
    bad = "postgresql://scorer@127.0.0.1:1/ops?password=s3cr3t-pw"
    unreachable = scorecard_cli("run", "--database-url", bad, "--out", out)
    assert unreachable.exit_code == 3
    assert "s3cr3t-pw" not in unreachable.output + unreachable.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://scorer:pw@db/ops",
        "postgresql://scorer@db/ops?password=pw",
        "postgresql://scorer@db/ops?sslpassword=pw",
    ],
)
def test_database_url_in_the_config_refuses_any_credential(url):
    with pytest.raises(ConfigError, match=r"database\.url"):
        config_from_mapping({"database": {"url": url}})


@pytest.mark.parametrize(
    "section",
    [
        {"scoring": {"bands": {"accuracy": {"floor": float("nan"), "target": 0.995}}}},
        {"database": {"statement_timeout_seconds": float("inf")}},
        {"currency": {"rates": {"USD": float("inf")}}},
    ],
)
def test_config_numbers_must_be_finite(section):
    with pytest.raises(ConfigError, match="finite"):
        config_from_mapping(section)


def test_csv_cells_cannot_become_spreadsheet_formulas():
    frame = pl.DataFrame(
        {
            "vendor_name": ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "Plain"],
            "n": [-1.0] * 6,
        }
    )
    lines = csv_bytes(frame).decode().splitlines()[1:]
    assert all(not line.startswith(("=", "+", "-", "@", "\t")) for line in lines), lines
    assert lines[-1] == "Plain,-1.0"


def test_chart_labels_never_go_through_mathtext():
    from reports.charts import cost_vs_quality

    svg = cost_vs_quality(
        [("Dollar $\\frac$ Ltd", 0.9, 80.0, 1000.0), ("B $x^2$", 1.1, 60.0, 500.0)]
    )
    assert svg.startswith("data:image/svg+xml")


def _complete_run(folder: Path, marker: str) -> None:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"marker": marker}))


def test_a_leftover_previous_is_restored_when_the_run_folder_is_missing(tmp_path):
    out = tmp_path / "out"
    # A kill between the two renames: the only complete run is in .previous.
    _complete_run(out / f".{AS_OF}.previous", "good")
    restore_unpublished_run(out)
    assert json.loads((out / AS_OF / "manifest.json").read_text()) == {"marker": "good"}
    assert not (out / f".{AS_OF}.previous").exists()


def test_a_failing_run_after_a_kill_between_renames_keeps_the_last_good_run(
    tmp_path, scorecard_cli
):
    out = tmp_path / "out"
    _complete_run(out / f".{AS_OF}.previous", "good")
    result = scorecard_cli.run(f"sqlite:///{tmp_path / 'none.db'}", out)
    assert result.exit_code == 3
    assert json.loads((out / AS_OF / "manifest.json").read_text()) == {"marker": "good"}


def test_publishing_keeps_the_old_run_until_the_new_one_is_in_place(tmp_path):
    out = tmp_path / "out"
    _complete_run(out / AS_OF, "old")
    _complete_run(out / f".{AS_OF}.previous", "older")  # a leftover from a kill
    staging = out / ".staging"
    _complete_run(staging, "new")
    publish_run_folder(staging, out / AS_OF)
    assert json.loads((out / AS_OF / "manifest.json").read_text()) == {"marker": "new"}
    assert not (out / f".{AS_OF}.previous").exists()


@pytest.fixture
def read_only_folder(tmp_path):
    """A real read-only filesystem (a tmpfs mounted ro): even root cannot write there."""
    with tmpfs(tmp_path / "ro", "ro,size=64k") as mount_point:
        yield mount_point


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_read_only_output_folder_is_one_line_exit_1(
    read_only_folder, sqlite_url, scorecard_cli, log_format
):
    result = scorecard_cli.run(sqlite_url, read_only_folder / "out", "--log-format", log_format)
    assert result.exit_code == 1, result.output
    # The run says which config it uses, then fails in one line.
    *before, line = result.stderr.strip().splitlines()
    assert "Read-only file system" in line
    assert len(before) == 1 and "config: built-in defaults" in before[0]
    if log_format == "json":
        assert json.loads(line)["exit_code"] == 1


@pytest.mark.parametrize(
    ("arguments", "code", "says"),
    [
        (["run", "--bogus"], 2, "--bogus"),
        (["run", "--period", "year"], 2, "year"),
        (["nonsense"], 2, "nonsense"),
        (["run", "--database-url", "postgresql://h:abc/db"], 2, "--database-url"),
        (["run", "--database-url", "sqlite://", "--as-of", "9999-12-31"], 2, "--as-of"),
    ],
)
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_every_usage_error_is_one_line(
    arguments, code, says, log_format, tmp_path, monkeypatch, scorecard_cli
):
    monkeypatch.setenv("SCORECARD_LOG_FORMAT", log_format)
    monkeypatch.chdir(tmp_path)  # a run that went further would write ./out here
    result = scorecard_cli(*arguments)
    assert result.exit_code == code, (result.output, result.exception)
    (line,) = result.stderr.strip().splitlines()
    assert says in line
    if log_format == "json":
        assert json.loads(line)["exit_code"] == code
    else:
        assert line.startswith("scorecard: error: ")


def test_an_infinite_statement_timeout_in_the_config_is_one_line_exit_2(tmp_path, scorecard_cli):
    config = tmp_path / "inf.toml"
    config.write_text("[database]\nstatement_timeout_seconds = inf\n")
    result = scorecard_cli("run", "--config", config, "--database-url", "sqlite://")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "database.statement_timeout_seconds" in line
