"""--send against a real SMTP server (aiosmtpd) on the loopback interface."""

from __future__ import annotations

import email
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from output.email import parse_address
from tests.builders import item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [
        vendor("A", name="Acme Offshore", manager_email="owner-a@example.com"),
        vendor("B", "nearshore", name="Beta Nearshore"),  # no manager: no scorecard email
    ],
    "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1),
        item("b1", "B", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1),
    ],
}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@contextmanager
def smtp_on_loopback(handler: Any) -> Iterator[int]:
    """A real SMTP server with this aiosmtpd handler, on a free port (yielded)."""
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    with smtp_on_loopback(inbox) as port:
        yield port, inbox


def _config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "mail.toml"
    config.write_text(
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsender = "scorecards@example.com"\n'
        'portfolio_recipients = ["cfo@example.com", "procurement@example.com"]\n'
        "retry_delay_seconds = 0.01\n"  # retries stay real, just quick
    )
    return config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_send_mails_the_pack_to_the_list_and_each_scorecard_to_its_owner(
    smtp_server, sqlite_url, tmp_path, scorecard_cli
):
    port, inbox = smtp_server
    load(sqlite_url, ROWS)
    result = scorecard_cli.run(
        sqlite_url, tmp_path / "out", "--send", config=_config(tmp_path, port)
    )
    assert result.exit_code == 0, result.output
    assert len(inbox.messages) == 2
    (pack_to, pack), (card_to, card) = inbox.messages
    assert pack_to == ["cfo@example.com", "procurement@example.com"]
    assert pack["Subject"] == "Vendor performance review 2026-Q3 (as of 2026-09-30)"
    attachment = next(pack.iter_attachments())
    assert attachment.get_filename() == "portfolio.pdf" and attachment.get_content().startswith(
        b"%PDF-"
    )
    assert card_to == ["owner-a@example.com"]
    assert card["Subject"] == "Vendor scorecard 2026-Q3: Acme Offshore"
    assert next(card.iter_attachments()).get_filename() == "acme-offshore_a.pdf"
    manifest = json.loads((tmp_path / "out" / AS_OF / "manifest.json").read_text())
    assert [(e["to"], e["status"]) for e in manifest["emails"]] == [
        (["cfo@example.com", "procurement@example.com"], "sent"), (["owner-a@example.com"], "sent"),
    ]  # fmt: skip
    # B has no manager: its scorecard reaches no one, and the run says so rather than nothing.
    unaddressed = "no one got the scorecard of B (no manager_email in vendors)"
    assert manifest["notices"] == [unaddressed]
    assert f"notice: {unaddressed}" in result.stderr


def test_a_server_that_is_down_fails_the_emails_not_the_outputs_and_exits_1(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, ROWS)
    config = _config(tmp_path, _free_port())
    result = scorecard_cli.run(
        sqlite_url, tmp_path / "out", "--send", "--format", "html", config=config
    )
    assert result.exit_code == 1
    assert (
        "problem: 2 of 2 emails failed, first to cfo@example.com, procurement@example.com: ConnectionRefusedError"
        in result.stderr
    )
    run_dir = tmp_path / "out" / AS_OF
    assert (run_dir / "portfolio.html").stat().st_size > 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {e["status"] for e in manifest["emails"]} == {"failed"}


def test_send_without_a_document_format_is_a_usage_error(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, ROWS)
    result = scorecard_cli.run(sqlite_url, tmp_path, "--send", "--format", "csv")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "scorecard: error: --send needs pdf or html among the formats: there is nothing to attach"
    )


@pytest.mark.parametrize("bad", ["owner@example.com\r\nBcc: all@example.com", "not-an-address"])
def test_header_injection_and_bad_addresses_are_refused(bad):
    with pytest.raises(ValueError):
        parse_address(bad)


def test_a_vendor_contact_gets_only_the_vendor_facing_scorecard(
    smtp_server, sqlite_url, tmp_path, scorecard_cli
):
    port, inbox = smtp_server
    load(sqlite_url, ROWS)
    config = _config(tmp_path, port)
    config.write_text(
        config.read_text() + '[email.vendor_contacts]\nA = "account-lead@acme.example"\n'
    )
    result = scorecard_cli.run(
        sqlite_url, tmp_path / "out", "--send", "--format", "pdf", config=config
    )
    assert result.exit_code == 0, result.output
    to_vendor = [(to, m) for to, m in inbox.messages if to == ["account-lead@acme.example"]]
    assert len(to_vendor) == 1
    attachment = next(to_vendor[0][1].iter_attachments())
    assert attachment.get_filename() == "acme-offshore_a.pdf"
    facing = (tmp_path / "out" / AS_OF / "vendor-facing" / "acme-offshore_a.pdf").read_bytes()
    assert attachment.get_content() == facing


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A throwaway self-signed certificate for 127.0.0.1, trusted only by this test's client."""
    if not shutil.which("openssl"):
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / "cert.pem", folder / "key.pem"


class Authenticator:
    def __init__(self) -> None:
        self.logins: list[tuple[str, str]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"app-password-123")


# Said by the test server about its own settings, which are over implicit TLS anyway.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login_with_credentials_from_the_environment(
    certificate, security, sqlite_url, tmp_path, monkeypatch, scorecard_cli
):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, authenticator, port = Inbox(), Authenticator(), _free_port()
    if security == "starttls":
        controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                                authenticator=authenticator, auth_required=True)  # fmt: skip
    else:
        # aiosmtpd only counts its own STARTTLS as TLS for AUTH; here TLS starts with the first byte.
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context,
                                authenticator=authenticator, auth_required=True, auth_require_tls=False)  # fmt: skip
    controller.start()
    try:
        monkeypatch.setenv(
            "SSL_CERT_FILE", str(cert)
        )  # the client verifies; it trusts only this CA
        load(sqlite_url, ROWS)
        config = _config(tmp_path, port)
        config.write_text(
            config.read_text()
            + f'security = "{security}"\nusername_env = "MAIL_USER"\npassword_env = "MAIL_PASSWORD"\n'
        )
        result = scorecard_cli.run(
            sqlite_url, tmp_path / "out", "--send", "--format", "html", config=config,
            env={"MAIL_USER": "scorecard", "MAIL_PASSWORD": "app-password-123"},
        )  # fmt: skip
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert authenticator.logins and set(authenticator.logins) == {("scorecard", "app-password-123")}
    assert len(inbox.messages) == 2
    manifest = (tmp_path / "out" / AS_OF / "manifest.json").read_text()
    assert "app-password-123" not in manifest and "app-password-123" not in result.output
