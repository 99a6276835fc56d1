"""Contract section 11: the first days of a period, and a vendor whose contract ended.

The bug of issue 22: on the first day of a quarter a vendor that was critical all last
quarter was mailed "97/100, excellent, rank 1 of 1" from one day of data. Until the current
period holds `scoring.min_rank_items` work items for a vendor, its scorecards (internal and
vendor-facing), the pack and the email claim no standing, rank or change for it there: they
read "too little activity so far (N items)", and the last period is the headline, named so.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy
from pathlib import Path

import pytest

import scorecard
from tests.builders import item, load, vendor

pytestmark = pytest.mark.integration

FIRST_DAY = dt.date(2026, 10, 1)


def _visible(html: str) -> str:
    """The text a reader sees: no style sheet, no tags, no attribute (class names such as
    `standing-excellent` are not claims), whitespace collapsed."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html.replace("&nbsp;", " ")).strip()


def _config(tmp_path: Path, extra: str = "") -> scorecard.Config:
    path = tmp_path / "first-days.toml"
    path.write_text(
        f'[run]\noutput_dir = "{tmp_path / "out"}"\nformats = ["html"]\n{extra}'
        '[email]\nsender = "sc@example.com"\nportfolio_recipients = ["pack@example.com"]\n'
        "[reports]\nvendor_facing = true\n"
    )
    return scorecard.load_config(path)


def _critical_quarter_then_one_good_day() -> dict:
    """Acme: 60 items in Q3, every one late and defective (critical, ranked 1 of 1); then, on
    the quarter's first day, 10 items on time and without a defect (a composite of 100)."""
    q3 = [
        item(f"q3-{n}", "A", f"2026-08-{1 + n % 28:02d} 08:00", f"2026-08-{1 + n % 28:02d} 09:00",
             f"2026-08-{1 + n % 28:02d} 12:00", qa=1, defects=1)
        for n in range(60)
    ]  # fmt: skip
    first_day = [
        item(f"q4-{n}", "A", "2026-10-01 08:00", "2026-10-01 20:00", "2026-10-01 12:00", qa=1)
        for n in range(10)
    ]
    return {
        "vendors": [vendor("A", name="Acme", manager_email="acme@example.com")],
        "work_items": q3 + first_day,
    }


def _ranking_row(pack: str, name: str) -> str:
    rows = [r for r in re.findall(r"<tr\b.*?</tr>", pack, flags=re.S) if f">{name}<" in r]
    assert len(rows) == 1, rows
    return _visible(rows[0])


def _email_text(run_dir: Path, to: str) -> str:
    for eml in sorted((run_dir / "emails").glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        if message["To"] == to:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            return str(body.get_content())
    raise AssertionError(f"no email to {to}")


def test_the_first_day_of_a_quarter_claims_nothing_and_headlines_the_last_one(sqlite_url, tmp_path):
    load(sqlite_url, _critical_quarter_then_one_good_day())
    config = _config(tmp_path)
    result = scorecard.run(config, database_url=sqlite_url, as_of=FIRST_DAY, email_dry_run=True)
    assert result.exit_code == 0, result.problems
    run_dir = tmp_path / "out" / FIRST_DAY.isoformat()
    so_far = "too little activity so far (10 items)"

    for folder in ("vendors", "vendor-facing"):
        page = _visible((run_dir / folder / "acme_a.html").read_text())
        # The headline is Q3's, named so: critical, rank 1 of 1 there.
        assert "2026-Q3, the last period: 0 / 100 critical Rank in 2026-Q3: 1 of 1" in page, folder
        assert f"2026-Q4: {so_far}; no standing, rank or change is claimed for it yet" in page
        # Nothing claims Q4's standing, rank or change from one day of data.
        assert "excellent" not in page, folder
        # No composite change (the rates' own tested changes stay, under "What changed").
        assert "Change since the last period" not in page and "change +" not in page, folder
        dimensions = re.search(r"The \d+ dimensions (.*?) Change: the score", page)
        assert dimensions is not None and "+" not in dimensions[1], folder

    pack = (run_dir / "portfolio.html").read_text()
    row = _ranking_row(pack, "Acme")
    assert so_far in row and "critical" in row and "2026-Q3" in row, row
    assert "excellent" not in row and "+100" not in row, row
    # The cover names Acme under its last period's standing, labelled with that period.
    summary = _visible(re.search(r'<table tabindex="0" class="summary">.*?</table>', pack, re.S)[0])  # type: ignore[index]
    assert "critical Acme (2026-Q3)" in summary, summary
    assert "excellent none" in summary, summary

    mail = _email_text(run_dir, "acme@example.com")
    assert f"2026-Q4: {so_far}; no standing, rank or change is claimed yet." in mail
    assert "Last period, 2026-Q3: composite 0 / 100, standing critical, rank 1 of 1" in mail
    assert "excellent" not in mail and "points since last period" not in mail, mail
    pack_mail = _email_text(run_dir, "pack@example.com")
    assert "Critical: Acme (2026-Q3)" in pack_mail and "Excellent: none" in pack_mail, pack_mail


def test_with_enough_items_the_current_period_is_the_headline(sqlite_url, tmp_path):
    """The same world with min_rank_items = 10: the first day holds enough, so Q4 is claimed."""
    load(sqlite_url, _critical_quarter_then_one_good_day())
    config = _config(tmp_path, "[scoring]\nmin_rank_items = 10\n")
    result = scorecard.run(config, database_url=sqlite_url, as_of=FIRST_DAY)
    assert result.exit_code == 0, result.problems
    page = _visible(
        (tmp_path / "out" / FIRST_DAY.isoformat() / "vendors" / "acme_a.html").read_text()
    )
    assert "100 / 100 excellent Rank 1 of 1" in page
    assert "too little activity" not in page


END = dt.date(2026, 3, 31)


def _ended_world() -> dict:
    """Acme works every quarter; Bravo's contract ended on 2026-03-31, its last work in Q1."""
    rows = []
    for month in (1, 4, 7, 8, 10):
        for n in range(40):
            rows.append(item(f"a-{month}-{n}", "A", f"2026-{month:02d}-05 08:00",
                             f"2026-{month:02d}-05 20:00", f"2026-{month:02d}-05 12:00", qa=1))  # fmt: skip
    for n in range(40):
        rows.append(item(f"b-{n}", "B", "2026-02-05 08:00", "2026-02-05 20:00",
                         "2026-02-05 12:00", qa=1))  # fmt: skip
    return {
        "vendors": [
            vendor("A", name="Acme", manager_email="acme@example.com"),
            vendor("B", name="Bravo", manager_email="bravo@example.com", contract_end=END),
        ],
        "work_items": rows,
    }


def test_a_vendor_whose_contract_ended_is_listed_so_and_leaves_the_pack(sqlite_url, tmp_path):
    load(sqlite_url, _ended_world())
    as_of = dt.date(2026, 10, 20)
    # Q1 (Bravo's last work) is among the pack's periods: listed as "contract ended", not
    # among the vendors without activity; its scorecard (its Q1) is there; no email for it.
    config = _config(tmp_path, "history_periods = 3\n")
    result = scorecard.run(config, database_url=sqlite_url, as_of=as_of, email_dry_run=True)
    assert result.exit_code == 0, result.problems
    run_dir = tmp_path / "out" / as_of.isoformat()
    pack = _visible((run_dir / "portfolio.html").read_text())
    assert "Contract ended, no activity this period" in pack
    assert "Bravo (contract ended 2026-03-31)" in pack
    assert "Contract ended : Bravo; not counted above" in pack
    assert "Bravo" not in _ranking_rows_text((run_dir / "portfolio.html").read_text())
    assert "1 / 1 outsourced vendors scored" in pack
    assert (run_dir / "vendors" / "bravo_b.html").exists()
    recipients = {
        email.message_from_bytes(p.read_bytes(), policy=policy.default)["To"]
        for p in (run_dir / "emails").glob("*.eml")
    }
    assert "bravo@example.com" not in recipients and "acme@example.com" in recipients

    # Once no period of the pack holds its activity, it leaves the pack, and has no scorecard.
    later = tmp_path / "later"
    later.mkdir()
    config = _config(later, "history_periods = 2\n")
    result = scorecard.run(config, database_url=sqlite_url, as_of=as_of, email_dry_run=True)
    assert result.exit_code == 0, result.problems
    run_dir = later / "out" / as_of.isoformat()
    assert "Bravo" not in (run_dir / "portfolio.html").read_text()
    assert not (run_dir / "vendors" / "bravo_b.html").exists()


def _ranking_rows_text(pack: str) -> str:
    table = re.search(r'<table tabindex="0" class="data ranking fixed">.*?</table>', pack, re.S)
    assert table is not None
    return _visible(table[0])
