"""SMTP's real semantics against a server on 127.0.0.1 that misbehaves on purpose (issue 27,
points 4 and 5): after 250 to DATA a message is delivered whatever follows (a 421 or a 5xx to
QUIT, a dropped connection), and delivery is tracked per recipient (a refused one never makes
the others get it again; a 4xx is transient, a 5xx permanent). Each test counts what every
recipient received over several runs: exactly one each."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.builders import load
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
