"""Contract section 11 and issue 27 points 6, 11 and 12, one behaviour per test: the stale-data
gate, a rerun on an empty source, `.previous` names, `latest`, a sent run kept on rerun, the
nightly cadence, and `check --max-age` on a manifest dated in the future."""

from __future__ import annotations

import datetime as dt
import email
import json
import os
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from extract.checks import Finding
from output.ledger import method_changes
from output.run_folder import check_last_run
from tests.builders import item, load, vendor
from tests.test_email import smtp_on_loopback

AS_OF = "2026-09-30"


def _rows(*days: str) -> dict:
    return {
        "vendors": [vendor("A", name="Acme Offshore", manager_email="owner-a@example.com")],
        "work_items": [
            item(f"a-{d}-{n}", "A", f"{d} 08:00", f"{d} 20:00", f"{d} 12:00", qa=1)
            for d in days
            for n in range(3)
        ],
    }


class Recorder:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.subjects.append(str(message["Subject"]))
        return "250 OK"


@pytest.fixture
def smtp():
    recorder = Recorder()
    with smtp_on_loopback(recorder) as port:
        yield port, recorder


def _mail_config(tmp_path: Path, port: int, extra: str = "") -> Path:
    config = tmp_path / "nights.toml"
    config.write_text(
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsender = "sc@example.com"\n'
        f"retry_delay_seconds = 0.01\n{extra}"
    )
    return config


@pytest.mark.stale_gate
def test_stale_data_fails_the_run_publishes_nothing_and_check_says_the_same(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, _rows("2026-09-25"))
    out = tmp_path / "out"
    fresh = scorecard_cli.run(sqlite_url, out, "--format", "csv", as_of="2026-09-26")
    assert fresh.exit_code == 0, fresh.output
    ran = scorecard_cli.run(sqlite_url, out, "--format", "html", "--send")
    assert ran.exit_code == 1
    line = (
        "stale data: the newest work_items.received_at is 2026-09-25 08:00, 136 h before the "
        "end of the as-of day 2026-09-30 (run.max_data_age_hours = 72)"
    )
    assert line in ran.output
    assert not (out / AS_OF).exists()
    assert os.readlink(out / "latest") == "2026-09-26"
    # Data age, not last-run age: check measures the same, at the end of yesterday.
    config = tmp_path / "check.toml"
    config.write_text("")
    checked = scorecard_cli("check", "--config", config, "--database-url", sqlite_url)
    assert checked.exit_code == 1
    assert (
        "FAIL" in checked.output and "work_items.received_at is 2026-09-25 08:00" in checked.output
    )


def test_a_rerun_on_an_empty_source_keeps_the_days_published_run(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, _rows("2026-09-29"))
    out = tmp_path / "out"
    assert scorecard_cli.run(sqlite_url, out, "--format", "csv,html").exit_code == 0
    before = (out / AS_OF / "manifest.json").read_bytes()
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM work_items"))
    engine.dispose()
    empty = scorecard_cli.run(sqlite_url, out, "--format", "csv,html")
    assert empty.exit_code == 1
    assert f"the day's published run in {out / AS_OF} is kept" in empty.output
    assert (out / AS_OF / "manifest.json").read_bytes() == before
    assert (out / AS_OF / "portfolio.html").is_file()
    assert os.readlink(out / "latest") == AS_OF


def test_previous_names_the_job_did_not_make_are_left_alone(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, _rows("2026-09-29"))
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    (out / f".{AS_OF}.previous").symlink_to(elsewhere)  # a symlink where the job's name would be
    notes = out / ".notes.previous"
    notes.mkdir()
    (notes / "todo.txt").write_text("call Acme")
    (out / ".notes.staging-1").mkdir()
    for _ in range(2):  # the second run replaces the first, through its own .previous
        ran = scorecard_cli.run(sqlite_url, out, "--format", "csv")
        assert ran.exit_code == 0, ran.output
    assert (out / f".{AS_OF}.previous").is_symlink()
    assert (elsewhere / "keep.txt").read_text() == "mine"
    assert (notes / "todo.txt").read_text() == "call Acme"
    assert (out / ".notes.staging-1").is_dir()
    assert not [p for p in out.iterdir() if ".previous-" in p.name]


def test_latest_never_moves_back_to_an_older_day(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, _rows("2026-09-14", "2026-09-29"))
    out = tmp_path / "out"
    assert scorecard_cli.run(sqlite_url, out, "--format", "csv").exit_code == 0
    assert scorecard_cli.run(sqlite_url, out, "--format", "csv", as_of="2026-09-15").exit_code == 0
    assert os.readlink(out / "latest") == AS_OF
    # ... and `check --max-age` names the newest day's run, not the backfill.
    assert (out / "2026-09-15" / "manifest.json").is_file()


def test_check_max_age_fails_a_manifest_dated_in_the_future(tmp_path):
    out = tmp_path / "out"
    (out / "2026-12-30").mkdir(parents=True)
    manifest = out / "2026-12-30" / "manifest.json"
    manifest.write_text(json.dumps({"exit_code": 0}))
    future = dt.datetime(2026, 12, 31, tzinfo=dt.UTC).timestamp()
    os.utime(manifest, (future, future))
    finding = check_last_run(out, 48, dt.datetime(2026, 12, 1, 6, 0))
    assert isinstance(finding, Finding) and not finding.ok
    assert "dated in the future" in finding.text


def test_a_rerun_of_a_sent_day_keeps_the_sent_run_beside_the_new_one(
    smtp, sqlite_url, tmp_path, scorecard_cli
):
    port, recorder = smtp
    load(sqlite_url, _rows("2026-09-29"))
    out, config = tmp_path / "out", _mail_config(tmp_path, port)
    assert (
        scorecard_cli.run(sqlite_url, out, "--format", "html", "--send", config=config).exit_code
        == 0
    )
    sent = (out / AS_OF / "manifest.json").read_bytes()
    load(sqlite_url, {"work_items": [item("late", "A", "2026-09-29 08:00", "2026-09-29 09:00", "2026-09-29 12:00", qa=1)]})  # fmt: skip
    again = scorecard_cli.run(sqlite_url, out, "--format", "html", "--send", config=config)
    assert again.exit_code == 0, again.output
    kept = out / f"{AS_OF}.earlier-1"
    assert (kept / "manifest.json").read_bytes() == sent
    assert (kept / "vendors" / "acme-offshore_a.html").is_file()
    assert json.loads(sent)["emails"][0]["status"] == "sent"
    assert recorder.subjects == [
        "Vendor scorecard 2026-Q3: Acme Offshore",
        "[Revised] Vendor scorecard 2026-Q3: Acme Offshore",
    ]


def test_nightly_sends_one_message_a_night_never_the_same_content_twice(
    smtp, sqlite_url, tmp_path, scorecard_cli
):
    port, recorder = smtp
    load(sqlite_url, _rows("2026-09-27"))
    out, config = tmp_path / "out", _mail_config(tmp_path, port, 'send = "nightly"\n')
    for day, new_rows in (("2026-09-27", False), ("2026-09-28", True), ("2026-09-29", False)):
        if new_rows:
            load(sqlite_url, {"work_items": _rows(day)["work_items"]})
        ran = scorecard_cli.run(sqlite_url, out, "--format", "html", "--send", config=config,
                                as_of=day)  # fmt: skip
        assert ran.exit_code == 0, ran.output
    # 09-27 first, 09-28 new figures; 09-29 the same figures: nothing.
    assert recorder.subjects == ["Vendor scorecard 2026-Q3: Acme Offshore"] * 2


def test_a_method_change_names_what_changed():
    before = {"scoring": {"weights": {"cost": 25.0, "speed": 25.0}, "min_rank_items": 30}}
    after = {"scoring": {"weights": {"cost": 40.0, "speed": 25.0}, "min_rank_items": 20}}
    assert method_changes(before, after) == (
        "scoring.min_rank_items 30 -> 20; scoring.weights.cost 25 -> 40"
    )


def test_a_long_subject_is_never_read_with_a_leading_space():
    from output.email import build_message, wire_bytes
    from reports.messages import Message

    subject = "[Revised] Vendor scorecard 2026-Q3: Acme Offshore Services (as of 2026-09-30)"
    mail = Message(("a@example.com",), subject, "body", Path("vendors/acme.html"))
    built = build_message(mail, "sc@example.com", b"<p>x</p>")
    parsed = email.message_from_bytes(wire_bytes(built), policy=policy.default)
    assert str(parsed["Subject"]) == subject


def test_a_request_answered_after_the_close_restates_the_period_naming_the_score_that_moved(
    sqlite_url, tmp_path
):
    """A low-priority request opened on 09-29 is inside its 72-hour target when Q3 closes on
    09-30, so it is left out; answered on 10-01, within target, it counts in Q3. The simulated
    year showed this after most closes, and the restatement only said "the data changed"."""
    import scorecard
    from tests.builders import make_config, request

    days = [f"2026-09-{d:02d}" for d in range(1, 31)]
    answered = [
        request(f"r{n}", "A", "normal", "2026-09-10 09:00",
                "2026-09-10 10:00" if n else "2026-09-12 10:00")  # r0 is late
        for n in range(10)
    ]  # fmt: skip
    pending = request("r-low", "A", "low", "2026-09-29 12:00", None)
    load(sqlite_url, {**_rows(*days), "requests": [*answered, pending]})
    out = tmp_path / "out"
    config = make_config(run={"output_dir": str(out), "formats": ["csv"]})
    closing = scorecard.run(config, database_url=sqlite_url, as_of=dt.date(2026, 9, 30))
    assert closing.exit_code == 0 and not closing.notices
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text(
            "UPDATE requests SET first_response_at = '2026-10-01 09:00:00' "
            "WHERE request_id = 'r-low'"))  # fmt: skip
    engine.dispose()
    after = scorecard.run(config, database_url=sqlite_url, as_of=dt.date(2026, 10, 1))
    # 9 of 10 within target (score (0.9 - 0.70) / 0.25 = 80.0), then 10 of 11 (83.6).
    assert [n for n in after.notices if "restated" in n] == [
        "2026-Q3 A restated: the data for 2026-Q3 changed since it was published on "
        "2026-09-30 (responsiveness 80.0 -> 83.6)"
    ]
    ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    assert ledger[0]["closed"]["2026-Q3"]["A"]["scores"]["responsiveness"] == 80.0
