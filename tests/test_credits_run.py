"""Service credits through a whole run: files, manifest, reports, recommendation and email."""

from __future__ import annotations

import csv
import email
import email.policy
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.view import vendor_slug
from tests.builders import charge, item, load, vendor

AS_OF = "2026-08-20"  # July is over; August is provisional.
ROWS = {
    "vendors": [
        vendor("A", name="Vendor A"),
        vendor("E", "nearshore", name="Vendor E"),
        vendor("H", "in_house", name="Team H"),
    ],
    "work_items": [
        # July: 4 items due, 2 on time: 50 %, below the 90 % level.
        item("a1", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 12:00"),
        item("a2", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 13:00"),
        item("a3", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-05 12:00"),
        item("a4", "A", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-05 13:00"),
        # August: 2 items due, both on time.
        item("a5", "A", "2026-08-03 08:00", "2026-08-04 08:00", "2026-08-03 12:00"),
        item("a6", "A", "2026-08-03 08:00", "2026-08-04 08:00", "2026-08-03 13:00"),
        item("e1", "E", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-05 12:00"),
        item("h1", "H", "2026-07-01 08:00", "2026-07-02 08:00", "2026-07-01 12:00"),
    ],
    "requests": [],
    "charges": [
        # 62 days: 3,100 in July, 2,000 for 1-20 August.
        charge("f1", "A", "2026-07-01", "2026-08-31", 6_200.0),
        charge("f2", "A", "2026-07-01", "2026-07-31", 9_000.0, kind="one_off"),
        charge("s1", "A", "2026-07-01", "2026-07-31", -100.0, kind="service_credit"),
        charge("f3", "E", "2026-07-01", "2026-07-31", 500.0),
    ],
}
CONFIG = """
[run]
history_periods = 0

[email]
# The email's content is under test, not the cadence: a message tonight, mid-quarter.
send = "nightly"
portfolio_recipients = ["finance@example.com"]

[contracts."A"]
at_risk_pct = 0.10
[[contracts."A".service_levels]]
name = "On time"
process = "support"
kpi = "on_time_rate"
minimum = 0.90
allocation_pct = 60

[contracts."GHOST"]
at_risk_pct = 0.10
[[contracts."GHOST".service_levels]]
name = "On time"
process = "ALL"
kpi = "on_time_rate"
minimum = 0.90
allocation_pct = 60
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, scorecard_cli) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("credits")
    url = f"sqlite:///{base / 'src.db'}"
    load(url, ROWS)
    config = base / "scorecard.toml"
    config.write_text(CONFIG)
    result = scorecard_cli.run(url, base / "out", "--email-dry-run", config=config, as_of=AS_OF)
    assert result.exit_code == 0, result.output
    return base / "out" / AS_OF, result.output


def _pdf_text(path: Path) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(path).pages).split())


def test_service_credits_csv_holds_each_level_and_month(run_dir):
    folder, _ = run_dir
    with (folder / "service_credits.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["month", "vendor_id", "vendor_name", "service_level", "process",
                             "kpi", "threshold", "actual", "met", "provisional", "fees",
                             "at_risk_amount", "allocation_pct", "credit", "status"]  # fmt: skip
    july, august = rows
    assert (july["month"], july["vendor_id"], july["actual"], july["met"]) == (
        "2026-07",
        "A",
        "0.5",
        "false",
    )
    # Fees only (the one-off is left out), 31 of the charge's 62 days.
    assert (july["fees"], july["at_risk_amount"], july["credit"], july["status"]) == (
        "3100.00",
        "310.00",
        "186.00",
        "due",
    )
    assert (august["provisional"], august["met"], august["fees"], august["status"]) == (
        "true",
        "true",
        "2000.00",
        "met",
    )
    assert json.loads((folder / "service_credits.json").read_text()) == [
        {**r, "threshold": float(r["threshold"]), "actual": float(r["actual"]),
         "met": r["met"] == "true", "provisional": r["provisional"] == "true",
         "fees": float(r["fees"]), "at_risk_amount": float(r["at_risk_amount"]),
         "allocation_pct": float(r["allocation_pct"]), "credit": float(r["credit"])}
        for r in rows
    ]  # fmt: skip
    manifest = json.loads((folder / "manifest.json").read_text())
    paths = {a["path"] for a in manifest["artifacts"]}
    assert {"service_credits.csv", "service_credits.json"} <= paths


def test_quarter_scores_still_count_every_month_due(run_dir):
    folder, _ = run_dir
    with (folder / "scores.csv").open() as handle:
        row = next(
            r for r in csv.DictReader(handle) if r["vendor_id"] == "A" and r["process"] == "ALL"
        )
    assert (row["items_due"], row["items_on_time"], row["on_time_rate"]) == ("6", "4", "0.666667")


def test_a_contract_for_an_unknown_vendor_is_a_warning_in_the_log(run_dir):
    _, output = run_dir
    assert "warning: contracts.GHOST: no such vendor in the data" in output


def test_the_portfolio_pack_has_a_service_credits_page_and_the_email_the_total(run_dir):
    folder, _ = run_dir
    text = _pdf_text(folder / "portfolio.pdf")
    assert "Service credits" in text
    # Due 186, credited 100: 86 unclaimed, on the cover and on the page.
    assert text.count("86.00 EUR") >= 2
    assert "186.00 EUR" in text and "100.00 EUR" in text
    eml = (folder / "emails" / "001-portfolio.eml").read_bytes()
    message = email.message_from_bytes(eml, policy=email.policy.default)
    body = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()  # type: ignore[attr-defined]
    assert (
        "Service credits unclaimed, 2026 from 2026-07 to 2026-08 (earlier months not read): 86.00 EUR "
        "(due 186.00 EUR, credited 100.00 EUR)" in body
    )


def test_the_vendor_scorecard_shows_its_levels_and_asks_to_claim(run_dir):
    folder, _ = run_dir
    text = _pdf_text(folder / "vendors" / f"{vendor_slug('A', 'Vendor A')}.pdf")
    assert "Service levels and credits" in text
    assert "2026-08 (provisional)" in text and "≥ 90.0 %" in text
    assert "Claim 1 unclaimed service credit: 86.00 EUR" in text
    assert "SLA credit clause" not in text
    # Vendor E has no contract: the generic line stays, and no levels are shown.
    other = _pdf_text(folder / "vendors" / f"{vendor_slug('E', 'Vendor E')}.pdf")
    assert "SLA credit clause" in other and "Service levels and credits" not in other


def test_the_vendor_facing_scorecard_shows_its_own_contract_only(run_dir):
    folder, _ = run_dir
    text = _pdf_text(folder / "vendor-facing" / f"{vendor_slug('A', 'Vendor A')}.pdf")
    assert "Service levels and credits" in text and "186.00 EUR" in text
    assert "Vendor E" not in text and "Unclaimed" not in text
    assert "Service levels" not in _pdf_text(
        folder / "vendor-facing" / f"{vendor_slug('E', 'Vendor E')}.pdf"
    )


def test_without_contracts_there_is_no_service_credits_file(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'src.db'}"
    load(url, ROWS)
    result = scorecard_cli.run(url, tmp_path / "out", "--format", "csv", as_of=AS_OF)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / AS_OF / "service_credits.csv").exists()
