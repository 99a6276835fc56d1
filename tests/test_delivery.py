"""Delivery against a real SMTP server on 127.0.0.1 that misbehaves on purpose (issue 27, points
4, 5 and 8): after 250 to DATA a message is delivered whatever follows (a 421 or a 5xx to QUIT,
a dropped connection); delivery is tracked per recipient (a refused one never makes the others
get it again; a 4xx is transient, a 5xx permanent); and per document, never per file name (a
renamed vendor changes no one else's file or messages). Each test counts what every recipient
received over several runs: exactly one each."""

from __future__ import annotations

import email
import json
import re
from collections import Counter
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.builders import item, load, vendor
from tests.test_email import AS_OF, ROWS, smtp_on_loopback
from tests.test_email import _config as mail_config

EVERYONE = Counter({"cfo@example.com": 1, "procurement@example.com": 1, "owner-a@example.com": 1})


class Misbehaving:
    """An aiosmtpd handler that answers QUIT, RCPT or the end of DATA as told, and counts every
    message it said 250 to, per recipient."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.quit_reply: str | None = None
        self.drop_after_data = False
        self.refuse: dict[str, str] = {}  # recipient -> its reply to RCPT
        self.rcpt_tries: Counter[str] = Counter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_tries[address] += 1
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            self.received[recipient] += 1
        if self.drop_after_data:
            await server.push("250 2.0.0 queued")  # the message is the server's now...
            server.transport.close()  # ...and then the line goes dead before QUIT
            return "250 2.0.0 queued"  # (to a closed connection: never read)
        return "250 2.0.0 queued"

    async def handle_QUIT(self, server, session, envelope):
        return self.quit_reply or "221 Bye"


@pytest.fixture
def misbehaving():
    handler = Misbehaving()
    with smtp_on_loopback(handler) as port:
        yield port, handler


def _emails(out: Path) -> list[dict]:
    return json.loads((out / AS_OF / "manifest.json").read_text())["emails"]


@pytest.mark.parametrize(
    "quit_reply",
    ["421 4.4.2 closing connection", "554 5.3.0 something broke", None],
    ids=["421 to QUIT", "5xx to QUIT", "dropped after 250 to DATA"],
)
def test_after_250_to_data_the_message_is_delivered_whatever_follows(
    misbehaving, sqlite_url, tmp_path, scorecard_cli, quit_reply
):
    port, server = misbehaving
    if quit_reply is None:
        server.drop_after_data = True
    else:
        server.quit_reply = quit_reply
    load(sqlite_url, ROWS)
    config = mail_config(tmp_path, port)
    out = tmp_path / "out"
    for _ in range(2):  # the night, then a rerun of it
        result = scorecard_cli.run(sqlite_url, out, "--send", "--format", "html", config=config)
        assert result.exit_code == 0, result.stderr
        assert "problem" not in result.stderr
    assert server.received == EVERYONE
    assert sorted(e["status"] for e in _emails(out)) == ["already sent", "already sent"]


def test_one_refused_recipient_never_resends_to_the_others_and_a_4xx_is_transient(
    misbehaving, sqlite_url, tmp_path, scorecard_cli
):
    port, server = misbehaving
    load(sqlite_url, ROWS)
    config = mail_config(tmp_path, port)
    out = tmp_path / "out"
    late = "procurement@example.com"

    def night() -> tuple[int, str, dict]:
        result = scorecard_cli.run(sqlite_url, out, "--send", "--format", "html", config=config)
        (pack,) = [e for e in _emails(out) if e["attachment"] == "portfolio.html"]
        return result.exit_code, result.stderr, pack

    # Night 1: 450 (mailbox busy). Transient: retried (email.attempts, default 4) within the
    # run, to the refused recipient only; the other one has the pack once.
    server.refuse[late] = "450 4.2.1 mailbox busy, try later"
    code, stderr, pack = night()
    assert code == 1
    assert server.rcpt_tries[late] == 4
    assert pack["status"] == "failed" and pack["permanent"] is False
    assert pack["recipients"] == {"cfo@example.com": "sent", late: "failed"}
    assert f"first to cfo@example.com, {late}: {late}: 450 4.2.1 mailbox busy" in stderr
    # Night 1 again: 550 (no such user). Permanent: tried once, and the other gets nothing.
    server.refuse[late] = "550 5.1.1 no such user"
    code, stderr, pack = night()
    assert code == 1
    assert server.rcpt_tries[late] == 4 + 1
    assert pack["status"] == "failed" and pack["permanent"] is True
    assert pack["recipients"] == {"cfo@example.com": "already sent", late: "failed"}
    # Fixed: the pack reaches the one who was refused, and only them.
    del server.refuse[late]
    code, stderr, pack = night()
    assert code == 0, stderr
    assert pack["status"] == "sent"
    assert pack["recipients"] == {"cfo@example.com": "already sent", late: "sent"}
    assert server.received == EVERYONE


def test_a_renamed_vendor_resends_no_one_elses_scorecard_and_a_vendor_rerun_passes(
    misbehaving, sqlite_url, tmp_path, scorecard_cli
):
    port, server = misbehaving
    load(sqlite_url, {
        "vendors": [vendor("A", name="Acme Offshore", manager_email="owner-a@example.com"),
                    vendor("M", name="Manila Ops", manager_email="owner-m@example.com")],
        "work_items": [
            item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1),
            item("m1", "M", "2026-07-01 00:00", "2026-07-03 00:00", "2026-07-01 12:00", qa=1),
        ],
    })  # fmt: skip
    config = mail_config(tmp_path, port)
    out = tmp_path / "out"
    first = scorecard_cli.run(sqlite_url, out, "--send", "--format", "html", config=config)
    assert first.exit_code == 0, first.stderr
    manila = sorted((out / AS_OF / "vendors").iterdir())
    with create_engine(sqlite_url).begin() as connection:  # Acme takes Manila's name
        connection.execute(text("UPDATE vendors SET name = 'Manila Ops' WHERE vendor_id = 'A'"))
    # The same day, only the renamed vendor: the document check passes, Manila is untouched.
    again = scorecard_cli.run(sqlite_url, out, "--send", "--format", "html", "--vendor", "A",
                              "--no-portfolio", config=config)  # fmt: skip
    assert again.exit_code == 0, again.stderr
    files = sorted(p.name for p in (out / AS_OF / "vendors").iterdir())
    assert files == ["manila-ops_a.html", "manila-ops_m.html"], files
    assert "manila-ops_m.html" in [p.name for p in manila]
    # And the whole day again: Manila's manager never gets the unchanged scorecard twice.
    full = scorecard_cli.run(sqlite_url, out, "--send", "--format", "html", config=config)
    assert full.exit_code == 0, full.stderr
    assert server.received["owner-m@example.com"] == 1
    assert server.received["owner-a@example.com"] == 2  # the rename is news: "[Revised]"
    subjects = {e["to"][0]: e for e in _emails(out)}
    assert subjects["owner-m@example.com"]["status"] == "already sent"
    assert subjects["owner-a@example.com"]["subject"].startswith("[Revised] ")


class LosesTheAnswer(Misbehaving):
    """Takes the message, then the line dies before its answer to DATA: in doubt."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_answer_to: set[int] = set()
        self.datas = 0
        self.subjects: Counter[tuple[str, str]] = Counter()

    async def handle_DATA(self, server, session, envelope):
        self.datas += 1
        if self.datas in self.lose_answer_to:
            server.transport.abort()
            return "451 never read"
        subject = email.message_from_bytes(envelope.content, policy=policy.default)["Subject"]
        for recipient in envelope.rcpt_tos:
            self.subjects[(recipient, str(subject))] += 1
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("outcome", ["--not-delivered", "--delivered"])
def test_a_message_in_doubt_is_listed_every_night_until_settled(
    sqlite_url, tmp_path, scorecard_cli, outcome
):
    server = LosesTheAnswer()
    server.lose_answer_to = {1}  # the first night's pack
    load(sqlite_url, ROWS)
    out = tmp_path / "out"
    with smtp_on_loopback(server) as port:
        config = mail_config(tmp_path, port)

        def night(as_of: str):
            return scorecard_cli.run(sqlite_url, out, "--send", "--format", "html",
                                     config=config, as_of=as_of)  # fmt: skip

        first = night("2026-09-29")
        assert first.exit_code == 1
        (reference,) = re.findall(r"email in doubt: (2026-09-29/[0-9a-f]{12}) ", first.stderr)
        pack = "Vendor performance review 2026-Q3 (as of 2026-09-29)"
        assert (
            f'problem: email in doubt: {reference} "{pack}" to cfo@example.com, '
            "procurement@example.com was handed to the server but its answer was never "
            "recorded, so it may have arrived; it is not sent again. Ask a recipient, then run "
            f"`scorecard emails settle {reference} --delivered` (or --not-delivered to send it "
            "on the next run)"
        ) in first.stderr
        # The next night does its own work, names the earlier night's message and exits 1.
        for _ in range(2):
            second = night(AS_OF)
            assert second.exit_code == 1, second.stderr
            assert f"email in doubt: {reference} " in second.stderr
        listed = scorecard_cli("emails", "in-doubt", "--out", out)
        assert listed.exit_code == 1
        assert listed.stdout == f"1 email in doubt in {out}\n"
        assert f"email in doubt: {reference} " in listed.stderr

        # Settling: say what happened, name a message that is in doubt.
        unsaid = scorecard_cli("emails", "settle", reference, "--out", out)
        assert unsaid.exit_code == 2
        assert unsaid.stderr.strip() == (
            f"scorecard: error: settle {reference}: say what happened: --delivered or --not-delivered"
        )
        unknown = scorecard_cli(
            "emails", "settle", "2026-09-29/000000000000", outcome, "--out", out
        )
        assert unknown.exit_code == 2
        assert unknown.stderr.strip() == (
            f"scorecard: error: no email in doubt is '2026-09-29/000000000000' in {out}; "
            f"in doubt: {reference}"
        )
        settled = scorecard_cli("emails", "settle", reference, outcome, "--out", out)
        assert settled.exit_code == 0, settled.stderr
        who = "cfo@example.com, procurement@example.com"
        assert settled.stdout == (
            f"{reference} to {who} settled as delivered: it counts as sent and never goes again\n"
            if outcome == "--delivered"
            else f"{reference} to {who} settled as not delivered: the next run with --send sends it\n"
        )
        again = scorecard_cli("emails", "settle", reference, outcome, "--out", out)
        assert again.exit_code == 2
        assert again.stderr.strip() == (
            f"scorecard: error: no email in doubt is '{reference}' in {out}; "
            "no email is in doubt there"
        )
        for _ in range(2):
            later = night(AS_OF)
            assert later.exit_code == 0, later.stderr
            assert "in doubt" not in later.stderr
        assert scorecard_cli("emails", "in-doubt", "--out", out).exit_code == 0
    # Not delivered: it went out once, on the next run, as it was; delivered: never again.
    expected = 0 if outcome == "--delivered" else 1
    assert server.subjects[("cfo@example.com", pack)] == expected
    assert server.subjects[("procurement@example.com", pack)] == expected
    tonight = "Vendor performance review 2026-Q3 (as of 2026-09-30)"
    assert server.subjects[("cfo@example.com", tonight)] == 1
    assert server.subjects[("procurement@example.com", tonight)] == 1


@pytest.mark.parametrize("length", [40, 1200])
def test_a_long_revised_subject_reads_back_without_a_leading_space(tmp_path, length):
    """Issue 22: with an international address the folded "[Revised]" subject was read back as
    " [Revised] ..." by header parsers (folded right after "Subject:")."""
    from output.email import build_message, wire_bytes
    from reports.messages import Message

    subject = "[Revised] Vendor scorecard 2026-Q3: " + "Ł" * length
    mail = Message(("anna@bücher.example",), subject, "body", Path("vendors/x.html"))
    wire = wire_bytes(build_message(mail, "scorecards@example.com", b"<p>x</p>"))
    parsed = email.message_from_bytes(wire, policy=policy.default)
    assert str(parsed["Subject"]) == subject
    assert b"Subject: [Revised] " in wire
