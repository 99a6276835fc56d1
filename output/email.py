"""Email the reports with the standard library: the pack to a list, each scorecard to its owner.

Addresses and subjects go through email.headerregistry, which refuses CR/LF,
so data can never inject headers. Credentials come only from environment
variables named in the config, and never reach a log, the manifest or a message.

Nightly runs must never send the same message twice. Each message is keyed by
its recipients and attachment, and written to a journal in the output folder
(OUT/<as-of>.emails.jsonl, one JSON line per step, each flushed to disk) before
anything is sent: "sending" before connecting, "data" just before the message
itself goes, "sent" once the server accepted it, "failed" when it refused. A
rerun skips what was sent with the same attachment bytes; when the attachment
has changed (corrected data), it is sent again, marked as a revision. A message
whose last step is "data" is in doubt (the run died, or the disk filled, between
handing it over and recording the answer): it is never sent again on its own,
and every rerun names it until someone removes its lines from the journal. When
the journal cannot be written, nothing more is sent. Transient failures
(connection refused or dropped before the message went, 4xx replies) are
retried with exponential backoff; permanent ones (5xx, a malformed address) are
not. One failed message does not stop the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.errors import MessageError
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from reports.messages import Message
from scorecard.config import EmailConfig
from scorecard.errors import ConfigError

SENT = ("sent", "already sent")


class PermanentFailure(Exception):
    """The server refused for good (a 5xx reply): retrying cannot help."""


def parse_address(text: str) -> Address:
    if "\r" in text or "\n" in text:
        raise ValueError("an address may not contain a line break")
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{text!r} is not an email address")
    try:
        address = Address(addr_spec=text.strip())
    except (ValueError, MessageError) as exc:  # HeaderParseError is no ValueError
        raise ValueError(f"{text!r} is not an email address ({exc})") from None
    if address.addr_spec != text.strip() or not address.domain or domain.endswith("."):
        raise ValueError(f"{text!r} is not an email address")
    return address


def dry_run_date(as_of: dt.date) -> dt.datetime:
    """The Date of a dry-run .eml: fixed (06:00 UTC the morning after the as-of day), so a
    rerun writes the same bytes; a real message carries the time it is sent."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)


def build_message(
    mail: Message,
    sender: str,
    attachment: bytes,
    date: dt.datetime | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """multipart/mixed: the body (multipart/alternative: text, HTML) and the attachment,
    unless mail.dropped says why it is left out. date: now when not given."""
    if "\r" in mail.subject or "\n" in mail.subject:
        raise ValueError("a subject may not contain a line break")
    if not mail.body.strip():
        raise ValueError("an email needs a body")  # never an empty email
    message = EmailMessage()
    sender_address = parse_address(sender)
    message["From"] = sender_address
    message["To"] = [parse_address(a) for a in mail.to]
    if reply_to:
        message["Reply-To"] = parse_address(reply_to)
    message["Subject"] = mail.subject
    if message.policy.fold("Subject", message["Subject"]).startswith(
        ("Subject:\n", "Subject:\r\n")
    ):
        # The standard library folds some subjects ("[Revised] ... (as of ...)") right after the
        # colon, and readers then see a leading space: such a subject is kept on one line.
        message.policy = message.policy.clone(max_line_length=998)
    message["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    # Derived from the recipients, the document and its bytes: a resend of the same message
    # has the same ID (a mail client shows it once), a revision a new one.
    digest = hashlib.sha256(f"{mail.key}|{mail.subject}".encode() + attachment).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@{sender_address.domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a robot
    message.set_content(mail.body)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    if not mail.dropped:
        subtype = "pdf" if mail.attachment.suffix == ".pdf" else "html"
        maintype = "application" if subtype == "pdf" else "text"
        message.add_attachment(
            attachment, maintype=maintype, subtype=subtype, filename=mail.attachment.name
        )
    # Not random: same content, same bytes.
    for number, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"scorecard-{digest}-{number}")
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The message exactly as smtplib hands it to the server (CRLF line ends), for .eml files."""
    international = any(not str(message[h] or "").isascii() for h in ("From", "To"))
    buffer = io.BytesIO()
    policy = message.policy.clone(utf8=True) if international else None  # type: ignore[call-arg]
    BytesGenerator(buffer, policy=policy).flatten(message, linesep="\r\n")
    return buffer.getvalue()


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


class InDoubt(Exception):
    """The message was handed over but the server's answer was lost: it may have arrived."""


def _deliver_once(
    message: EmailMessage,
    config: EmailConfig,
    credentials: tuple[str, str] | None,
    before_data: Callable[[], None],
) -> None:
    handed_over = False

    def data_after_journal(client: smtplib.SMTP, original: Callable[[Any], Any]) -> Any:
        def data(payload: Any) -> Any:
            nonlocal handed_over
            before_data()  # recorded on disk before the server can have the message
            handed_over = True
            return original(payload)

        return data

    try:
        with _connect(config) as client:
            if credentials:
                client.login(*credentials)
            client.data = data_after_journal(client, client.data)  # type: ignore[method-assign]
            refused = client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if all(code >= 500 for code in codes):
            raise PermanentFailure(f"recipients refused: {codes}") from None
        raise
    except smtplib.SMTPResponseException as exc:
        # The server answered: whatever it said, it said it was not taking the message.
        if exc.smtp_code >= 500:
            detail = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise PermanentFailure(f"{exc.smtp_code} {detail}") from None
        raise
    except (OSError, smtplib.SMTPException) as exc:
        if handed_over:
            raise InDoubt(f"{type(exc).__name__}: {exc}") from None
        raise
    if refused:
        raise PermanentFailure(f"some recipients refused: {sorted(refused)}")


def deliver(
    message: EmailMessage,
    config: EmailConfig,
    credentials: tuple[str, str] | None,
    sleep: Callable[[float], None] = time.sleep,
    before_data: Callable[[], None] = lambda: None,
) -> int:
    """Send, retrying transient failures with exponential backoff; returns the attempts made.

    A failure after the message was handed over is never retried (InDoubt).
    """
    for attempt in range(1, config.attempts + 1):
        try:
            _deliver_once(message, config, credentials, before_data)
            return attempt
        except (PermanentFailure, InDoubt):
            raise
        except (OSError, smtplib.SMTPException):
            if attempt == config.attempts:
                raise
            sleep(config.retry_delay_seconds * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


class JournalError(Exception):
    """The journal cannot be written (full disk, read-only folder): nothing more may be sent."""


def _journal_entries(path: Path) -> list[dict[str, Any]]:
    """Every complete line of the journal; a line torn by a kill or a full disk is skipped."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            entries.append(entry)
    return entries


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """The last recorded step of each message, by key."""
    return {entry["key"]: entry for entry in _journal_entries(path)}


class Journal:
    """Append-only JSON lines, each flushed and fsynced before the step it records happens."""

    def __init__(self, path: Path) -> None:
        self.path = path
        entries = _journal_entries(path)
        self.last = {entry["key"]: entry for entry in entries}
        self.sent = {entry["key"]: entry for entry in entries if entry.get("event") == "sent"}

    def record(self, event: str, key: str, fields: dict[str, Any]) -> None:
        entry = {"event": event, "key": key, **fields}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            created = not self.path.exists()
            with self.path.open("ab+") as handle:
                if handle.tell():
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        handle.write(b"\n")  # a torn last line stays apart from this one
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as exc:
            raise JournalError(
                f"cannot write the email journal {self.path}: {exc.strerror or exc}"
            ) from None
        self.last[key] = entry
        if event == "sent":
            self.sent[key] = entry


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send_all(
    mails: Sequence[Message],
    config: EmailConfig,
    run_dir: Path,
    previous: Sequence[dict[str, Any]] = (),
    dry_run_dir: Path | None = None,
    journal_path: Path | None = None,
    resend: bool = False,
    as_of: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Send (or, with dry_run_dir, write as .eml) each message; one record per message.

    as_of: the run's day, from which a dry run's fixed Date is derived.

    journal_path: the journal of the day (see the module's docstring); `previous` is
    the emails list of the last run for the same day, for runs made before the journal.
    resend: send messages that were sent before with the same attachment again (an operator's
    explicit `scorecard run --vendor ID --resend`); a message in doubt is still never resent.
    """
    credentials = None if dry_run_dir else _credentials(config)
    journal = Journal(journal_path) if journal_path is not None and dry_run_dir is None else None
    # "already sent" carries a message forward from run to run, so a third run skips it too.
    already = {e["key"]: e for e in previous if e.get("status") in SENT and "key" in e}
    if journal is not None:
        already |= journal.sent
    stopped: str | None = None
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
            "attached": not mail.dropped,
            "revision": 0,
        }
        if mail.dropped:
            record["attachment_dropped"] = mail.dropped
        last = journal.last.get(mail.key) if journal is not None else None
        if last is not None and last.get("event") == "data":
            records.append(record | {"status": "in doubt", "error": (
                f"handed to the server but its answer was never recorded, so it may have arrived; "
                f"it is not sent again (remove its lines from {journal_path} to send it again)"
            )})  # fmt: skip
            continue
        sent_before = already.get(mail.key)
        same = sent_before is not None and sent_before.get("attachment_sha256") == digest
        if sent_before and same and not resend:
            records.append(record | {"status": "already sent", "subject": sent_before["subject"],
                                     "revision": sent_before.get("revision", 0)})  # fmt: skip
            continue
        if sent_before and same:
            record |= {"resent": True, "revision": sent_before.get("revision", 0)}
        elif sent_before:
            # The same message with other content: the data was corrected. Say so.
            record["revision"] = int(sent_before.get("revision", 0)) + 1
            record["subject"] = f"[Revised] {mail.subject}"
        if stopped is not None:
            records.append(record | {"status": "failed", "permanent": False, "error": stopped})
            continue
        try:
            fixed_date = dry_run_date(as_of) if dry_run_dir is not None and as_of else None
            message = build_message(
                dataclasses.replace(mail, subject=record["subject"]),
                config.sender,
                attachment,
                date=fixed_date,
                reply_to=config.reply_to,
            )
            record["message_id"] = message["Message-ID"]
            if dry_run_dir is not None:
                eml = dry_run_dir / f"{number:03d}-{mail.attachment.stem}.eml"
                eml.parent.mkdir(parents=True, exist_ok=True)
                eml.write_bytes(wire_bytes(message))
                record["status"] = "dry run"
                record["eml"] = eml.name
            elif journal is None:
                record["attempts"] = deliver(message, config, credentials)
                record["status"] = "sent"
            else:
                _send_journaled(message, config, credentials, journal, record)
        except JournalError as exc:
            stopped = f"not sent: {exc}"
            record |= {"status": record.get("status", "failed"), "error": str(exc)}
            record.setdefault("permanent", False)
        except InDoubt as exc:
            record["status"] = "in doubt"
            record["error"] = f"the connection failed after the message was handed over: {exc}"
        except (OSError, smtplib.SMTPException, ValueError, PermanentFailure) as exc:
            record["status"] = "failed"
            record["permanent"] = isinstance(exc, PermanentFailure | ValueError)
            record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if journal is not None:
                try:
                    journal.record("failed", mail.key, _journal_fields(record))
                except JournalError as journal_exc:
                    stopped = f"not sent: {journal_exc}"
        records.append(record)
    return records


def _journal_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("to", "subject", "attachment", "attachment_sha256", "revision",
                                   "message_id", "error") if k in record}  # fmt: skip


def _send_journaled(
    message: EmailMessage,
    config: EmailConfig,
    credentials: tuple[str, str] | None,
    journal: Journal,
    record: dict[str, Any],
) -> None:
    """sending -> (connect, MAIL, RCPT) -> data -> (DATA) -> sent, each step on disk first."""
    key = record["key"]
    journal.record("sending", key, _journal_fields(record))
    record["attempts"] = deliver(
        message,
        config,
        credentials,
        before_data=lambda: journal.record("data", key, _journal_fields(record)),
    )
    record["status"] = "sent"  # true even if the journal cannot say so: then it is in doubt
    journal.record("sent", key, _journal_fields(record))


@dataclass(frozen=True)
class Delivery:
    """What sending the run's messages came to."""

    emails: list[dict[str, Any]]
    """One record per message, as the manifest lists them."""
    problems: list[str]
    """Messages failed or in doubt: the run exits 1."""
    notices: list[str]
    """Worth knowing, not a failure: messages that went without their attachment."""


def deliver_messages(
    messages: Sequence[Message],
    config: EmailConfig,
    run_dir: Path,
    earlier: Sequence[dict[str, Any]],
    journal_path: Path,
    as_of: dt.date,
    dry_run: bool = False,
    resend: bool = False,
) -> Delivery:
    """send_all, and the run's lines on what failed, is in doubt or lost its attachment.

    run_dir: the folder the attachments are read from (dry run: the .eml files go to its
    emails/). earlier: the emails the day's last complete run recorded.
    """
    emails = send_all(
        messages,
        config,
        run_dir,
        previous=earlier,
        dry_run_dir=run_dir / "emails" if dry_run else None,
        journal_path=journal_path,
        resend=resend,
        as_of=as_of,
    )
    problems = []
    in_doubt = [e for e in emails if e["status"] == "in doubt"]
    if in_doubt:
        problems.append(
            f"{len(in_doubt)} email in doubt, to {', '.join(in_doubt[0]['to'])} "
            f"({in_doubt[0]['attachment']}): it may have arrived and is not sent again; "
            f"see {journal_path}"
        )
    failed = [e for e in emails if e["status"] == "failed"]
    if failed:
        problems.append(
            f"{len(failed)} of {len(emails)} emails failed, first to "
            f"{', '.join(failed[0]['to'])}: {failed[0]['error']}"
        )
    return Delivery(emails, problems, dropped_attachment_notices(emails, config.max_attachment_mb))


def dropped_attachment_notices(emails: Sequence[dict[str, Any]], limit_mb: float) -> list[str]:
    """The run's line on emails that went without their attachment: never a silent drop."""
    dropped = [e for e in emails if not e.get("attached", True)]
    if not dropped:
        return []
    first = dropped[0]
    return [
        f"{len(dropped)} of {len(emails)} emails without their attachment (over "
        f"email.max_attachment_mb = {limit_mb:g}), first {first['attachment']} to "
        f"{', '.join(first['to'])}: the email says where the file is"
    ]


def with_earlier_emails(
    emails: Sequence[dict[str, Any]], earlier: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A run for some vendors keeps the record of every other message the day's runs sent."""
    keys = {e["key"] for e in emails}
    return [*(e for e in earlier if e.get("key") not in keys), *emails]
