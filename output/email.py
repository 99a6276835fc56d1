"""Email the reports with the standard library: the pack to a list, each scorecard to its owner.

Addresses and subjects go through email.headerregistry, which refuses CR/LF,
so data can never inject headers. Credentials come only from environment
variables named in the config, and never reach a log, the manifest or a message.

Nightly runs must never send the same message twice: each message is keyed by
its recipients and attachment, and a rerun skips what the previous run for the
same day already sent with the same attachment bytes; when the attachment has
changed (corrected data), it is sent again, marked as a revision. Transient
failures (connection refused or dropped, 4xx replies) are retried with
exponential backoff; permanent ones (5xx) are not. One failed message does not
stop the others.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from scorecard.config import EmailConfig
from scorecard.errors import ConfigError


@dataclass(frozen=True)
class Outgoing:
    to: tuple[str, ...]
    subject: str
    body: str
    attachment: Path
    """Relative to the run folder."""
    document: str = ""
    """The document key the attachment must record (reports.view.document_key)."""

    @property
    def key(self) -> str:
        """What makes two messages "the same message" across reruns."""
        return f"{','.join(sorted(self.to))}|{self.attachment.as_posix()}"


SENT = ("sent", "already sent")


class PermanentFailure(Exception):
    """The server refused for good (a 5xx reply): retrying cannot help."""


def parse_address(text: str) -> Address:
    if "\r" in text or "\n" in text:
        raise ValueError("an address may not contain a line break")
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{text!r} is not an email address")
    return Address(addr_spec=text.strip())


def build_message(mail: Outgoing, sender: str, attachment: bytes) -> EmailMessage:
    if "\r" in mail.subject or "\n" in mail.subject:
        raise ValueError("a subject may not contain a line break")
    message = EmailMessage()
    message["From"] = parse_address(sender)
    message["To"] = [parse_address(a) for a in mail.to]
    message["Subject"] = mail.subject
    # Derived from what is sent, so a rerun writes byte-identical .eml files.
    digest = hashlib.sha256(f"{mail.key}|{mail.subject}".encode() + attachment).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@scorecard.invalid>"
    message.set_content(mail.body)
    subtype = "pdf" if mail.attachment.suffix == ".pdf" else "html"
    maintype = "application" if subtype == "pdf" else "text"
    message.add_attachment(
        attachment, maintype=maintype, subtype=subtype, filename=mail.attachment.name
    )
    message.set_boundary(f"scorecard-{digest}")  # not random: same content, same bytes
    return message


def _credentials(config: EmailConfig) -> tuple[str, str] | None:
    if not config.username_env:
        return None
    user = os.environ.get(config.username_env)
    password = os.environ.get(config.password_env or "", "")
    if not user:
        raise ConfigError(f"email.username_env names {config.username_env}, which is not set")
    return user, password


def _connect(config: EmailConfig) -> smtplib.SMTP:
    if config.security == "ssl":
        return smtplib.SMTP_SSL(
            config.smtp_host,
            config.smtp_port,
            timeout=config.timeout_seconds,
            context=ssl.create_default_context(),
        )
    client = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds)
    if config.security == "starttls":
        client.starttls(context=ssl.create_default_context())
    return client


def _deliver_once(
    message: EmailMessage, config: EmailConfig, credentials: tuple[str, str] | None
) -> None:
    try:
        with _connect(config) as client:
            if credentials:
                client.login(*credentials)
            refused = client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"recipients refused: {codes}") from None
        raise
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            detail = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise PermanentFailure(f"{exc.smtp_code} {detail}") from None
        raise
    if refused:
        raise PermanentFailure(f"some recipients refused: {sorted(refused)}")


def deliver(
    message: EmailMessage,
    config: EmailConfig,
    credentials: tuple[str, str] | None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send, retrying transient failures with exponential backoff; returns the attempts made."""
    for attempt in range(1, config.attempts + 1):
        try:
            _deliver_once(message, config, credentials)
            return attempt
        except PermanentFailure:
            raise
        except (OSError, smtplib.SMTPException):
            if attempt == config.attempts:
                raise
            sleep(config.retry_delay_seconds * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send_all(
    mails: Sequence[Outgoing],
    config: EmailConfig,
    run_dir: Path,
    previous: Sequence[dict[str, Any]] = (),
    dry_run_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Send (or, with dry_run_dir, write as .eml) each message; one record per message.

    `previous` is the emails list of the last run for the same day: what it sent
    with the same attachment bytes is not sent again.
    """
    credentials = None if dry_run_dir else _credentials(config)
    # "already sent" carries a message forward from run to run, so a third run skips it too.
    already = {e["key"]: e for e in previous if e.get("status") in SENT and "key" in e}
    records: list[dict[str, Any]] = []
    for number, mail in enumerate(mails, start=1):
        attachment = (run_dir / mail.attachment).read_bytes()
        digest = _sha256(attachment)
        record: dict[str, Any] = {
            "key": mail.key,
            "to": list(mail.to),
            "subject": mail.subject,
            "attachment": mail.attachment.as_posix(),
            "attachment_sha256": digest,
            "revision": 0,
        }
        sent_before = already.get(mail.key)
        if sent_before and sent_before.get("attachment_sha256") == digest:
            records.append(record | {"status": "already sent", "subject": sent_before["subject"],
                                     "revision": sent_before.get("revision", 0)})  # fmt: skip
            continue
        if sent_before:
            # The same message with other content: the data was corrected. Say so.
            record["revision"] = int(sent_before.get("revision", 0)) + 1
            record["subject"] = f"[Revised] {mail.subject}"
        try:
            message = build_message(
                Outgoing(mail.to, record["subject"], mail.body, mail.attachment),
                config.sender,
                attachment,
            )
            record["message_id"] = message["Message-ID"]
            if dry_run_dir is not None:
                eml = dry_run_dir / f"{number:03d}-{mail.attachment.stem}.eml"
                eml.parent.mkdir(parents=True, exist_ok=True)
                eml.write_bytes(bytes(message))
                record["status"] = "dry run"
                record["eml"] = eml.name
            else:
                record["attempts"] = deliver(message, config, credentials)
                record["status"] = "sent"
        except (OSError, smtplib.SMTPException, ValueError, PermanentFailure) as exc:
            record["status"] = "failed"
            record["permanent"] = isinstance(exc, PermanentFailure | ValueError)
            record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        records.append(record)
    return records
