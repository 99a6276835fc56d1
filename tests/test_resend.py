"""`scorecard run --vendor ID`: re-render and resend one vendor's scorecard, leave the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.builders import item, load, vendor
from tests.test_email import Inbox, _config, smtp_on_loopback

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [
        vendor("A", name="Acme Offshore", manager_email="owner-a@example.com"),
        vendor("B", name="Bravo Nearshore", manager_email="owner-b@example.com"),
        vendor("C", name="Charlie Onshore", manager_email="owner-c@example.com"),
    ],
    "work_items": [
        item(f"{v}{k}", v, "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
        for v in "ABC"
        for k in range(3)
    ],
}


@pytest.fixture
def mail_server():
    inbox = Inbox()
    with smtp_on_loopback(inbox) as port:
        yield port, inbox


def _manifest(out: Path) -> dict:
    return json.loads((out / AS_OF / "manifest.json").read_text())


def _inbox(inbox) -> list[tuple[list[str], str]]:
    return [(to, message["Subject"]) for to, message in inbox.messages]


def test_one_vendor_is_rendered_again_and_sent_only_when_asked(
    mail_server, sqlite_url, tmp_path, scorecard_cli
):
    port, inbox = mail_server
    load(sqlite_url, ROWS)
    config, out = _config(tmp_path, port), tmp_path / "out"
    send = ["--format", "pdf,csv", "--send"]
    first = scorecard_cli.run(sqlite_url, out, *send, config=config)
    assert first.exit_code == 0, first.output
    assert len(inbox.messages) == 4  # the pack, and one scorecard per manager
    before = {a["path"]: a["sha256"] for a in _manifest(out)["artifacts"]}

    # Same data: B's scorecard is rendered again, identical, so nothing goes out twice.
    again = scorecard_cli.run(sqlite_url, out, *send, "--vendor", "B", config=config)
    assert again.exit_code == 0, again.output
    assert len(inbox.messages) == 4
    manifest = _manifest(out)
    assert manifest["selection"] == {"vendors": ["B"], "portfolio": True}
    assert {a["path"]: a["sha256"] for a in manifest["artifacts"]} == before  # nothing lost
    assert {(tuple(e["to"]), e["status"]) for e in manifest["emails"]} == {
        (("owner-a@example.com",), "sent"),
        (("owner-c@example.com",), "sent"),
        (("owner-b@example.com",), "already sent"),
        (("cfo@example.com", "procurement@example.com"), "already sent"),
    }

    # --resend: B's manager gets the same scorecard again; nobody else gets anything.
    resent = scorecard_cli.run(
        sqlite_url, out, *send, "--vendor", "B", "--resend", "--no-portfolio", config=config
    )
    assert resent.exit_code == 0, resent.output
    assert _inbox(inbox)[4:] == [
        (["owner-b@example.com"], "Vendor scorecard 2026-Q3: Bravo Nearshore")
    ]
    attachment = next(inbox.messages[4][1].iter_attachments())
    assert attachment.get_filename() == "bravo-nearshore_b.pdf"
    assert _manifest(out)["selection"] == {"vendors": ["B"], "portfolio": False}
    assert {a["path"]: a["sha256"] for a in _manifest(out)["artifacts"]} == before

    # The data of B is corrected: only B's scorecard changes and goes out, as a revision.
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE work_items SET defects = 1 WHERE work_item_id = 'B0'"))
    engine.dispose()
    revised = scorecard_cli.run(
        sqlite_url, out, *send, "--vendor", "B", "--no-portfolio", config=config
    )
    assert revised.exit_code == 0, revised.output
    assert _inbox(inbox)[5:] == [
        (["owner-b@example.com"], "[Revised] Vendor scorecard 2026-Q3: Bravo Nearshore")
    ]
    after = {a["path"]: a["sha256"] for a in _manifest(out)["artifacts"]}
    changed = {path for path in after if after[path] != before.get(path)}
    # B's own documents and the tables (scored over everyone); A's and C's untouched.
    assert {"vendors/bravo-nearshore_b.pdf", "scores.csv"} <= changed
    assert not {p for p in changed if "acme" in p or "charlie" in p or p.startswith("portfolio")}


def test_a_vendor_run_without_an_earlier_run_publishes_what_it_made(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, ROWS)
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "html", "--vendor", "C")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "out" / AS_OF
    made = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*.html"))
    assert made == [
        "portfolio.html",
        "vendor-facing/charlie-onshore_c.html",
        "vendors/charlie-onshore_c.html",
    ]


def test_an_unknown_vendor_or_a_flag_without_vendor_is_a_one_line_usage_error(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, ROWS)
    unknown = scorecard_cli.run(sqlite_url, tmp_path / "out", "--vendor", "Z", "--vendor", "B")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[-1] == (
        "scorecard: error: --vendor Z: no vendor with that ID in the data "
        "(IDs are matched exactly, as in scores.csv's vendor_id)"
    )
    assert not (tmp_path / "out" / AS_OF).exists()
    # IDs are matched exactly, but a near miss is named.
    near = scorecard_cli.run(sqlite_url, tmp_path / "out", "--vendor", "b")
    assert near.exit_code == 2
    assert near.stderr.splitlines()[-1].endswith("vendor_id); did you mean B?")
    for flag, goes_with in (
        ("--resend", "--send (a backfill's emails) or --vendor ID"),
        ("--no-portfolio", "--vendor ID"),
    ):
        alone = scorecard_cli.run(sqlite_url, tmp_path / "out", flag)
        assert alone.exit_code == 2
        assert (
            alone.stderr
            == f"scorecard: error: {flag} goes with {goes_with} (the scorecards to render again)\n"
        )
