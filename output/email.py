"""Email the reports with the standard library: the pack to a list, each scorecard to its owner.

Addresses and subjects go through email.headerregistry, which refuses CR/LF,
so data can never inject headers. Credentials come only from environment
variables named in the config. One failed message does not stop the others;
each is recorded for the manifest.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
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


def parse_address(text: str) -> Address:
    if "\r" in text or "\n" in text:
        raise ValueError("an address may not contain a line break")
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{text!r} is not an email address")
    return Address(addr_spec=text.strip())


def build_message(mail: Outgoing, sender: str, run_dir: Path) -> EmailMessage:
    if "\r" in mail.subject or "\n" in mail.subject:
        raise ValueError("a subject may not contain a line break")
    message = EmailMessage()
    message["From"] = parse_address(sender)
    message["To"] = [parse_address(a) for a in mail.to]
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain="scorecard.invalid")
    message.set_content(mail.body)
    data = (run_dir / mail.attachment).read_bytes()
    subtype = "pdf" if mail.attachment.suffix == ".pdf" else "html"
    maintype = "application" if subtype == "pdf" else "text"
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=mail.attachment.name)
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
        return smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds,
                                context=ssl.create_default_context())  # fmt: skip
    client = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_seconds)
    if config.security == "starttls":
        client.starttls(context=ssl.create_default_context())
    return client


def send_all(mails: Sequence[Outgoing], config: EmailConfig, run_dir: Path) -> list[dict[str, Any]]:
    """Send each message; return one record per message (status sent or failed, never a secret)."""
    credentials = _credentials(config)
    records: list[dict[str, Any]] = []
    for mail in mails:
        record: dict[str, Any] = {
            "to": list(mail.to), "subject": mail.subject, "attachment": mail.attachment.as_posix(),
        }  # fmt: skip
        try:
            message = build_message(mail, config.sender, run_dir)
            record["message_id"] = message["Message-ID"]
            with _connect(config) as client:
                if credentials:
                    client.login(*credentials)
                client.send_message(message)
            record["status"] = "sent"
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            record["status"] = "failed"
            record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        records.append(record)
    return records
