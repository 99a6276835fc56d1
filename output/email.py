"""Email the reports with the standard library: the pack to a list, each scorecard to its owner.

Addresses and subjects go through email.headerregistry, which refuses CR/LF,
so data can never inject headers. Credentials come only from environment
variables named in the config, and never reach a log, the manifest or a message.

Nightly runs must never send the same message twice. Each message is keyed by
its document (the pack, or one vendor's internal or vendor-facing scorecard, by
vendor ID; never the file name) and tracked per recipient in a journal in the
output folder (OUT/<as-of>.emails.jsonl, one JSON line per step, each flushed
to disk) before anything is sent: "sending" before connecting, "data" (with the
recipients the server accepted) just before the message itself goes, "sent"
once the server answered 250 to it, "failed" with the recipients it refused.
After that 250 the message is delivered, whatever QUIT gets (221, 421, a 5xx,
a dropped line). A rerun skips each recipient who has the same attachment
bytes; one who had other bytes (corrected data) gets it again as "[Revised]".
A recipient whose last step is "data" is in doubt (the run died, or the line
dropped, between handing it over and reading the answer): it is never sent
again on its own, a copy waits in OUT/.emails-outbox/, and every later run
names it and exits 1 until an operator settles it (`scorecard emails settle`):
delivered, or not delivered, and then the copy goes out on the next run. When
the journal cannot be written, nothing more is sent. Transient failures
(connection refused or dropped before the message went, 4xx replies) are
retried with exponential backoff, to the recipients still waiting only;
permanent ones (5xx, a malformed address) are not. One failed message or
recipient does not stop the others.
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
    key: str | None = None,
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
    # Derived from the document, the subject and the attachment's bytes (key: delivery_key): a
    # resend of the same message has the same ID (a mail client shows it once), a revision a new one.
    key = delivery_key(mail) if key is None else key
    digest = hashlib.sha256(f"{key}|{mail.subject}".encode() + attachment).hexdigest()[:32]
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
    # With raw UTF-8 headers the folder can break a long Subject right after "Subject:", which
    # parsers read with a leading space (" [Revised] ..."): fold only at RFC 5322's 998.
    policy = (
        message.policy.clone(utf8=True, max_line_length=998)  # type: ignore[call-arg]
        if international
        else None
    )
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

    def __init__(self, detail: str, recipients: Sequence[str]) -> None:
        super().__init__(detail)
        self.recipients = list(recipients)


@dataclass(frozen=True)
class Outcome:
    """What the server made of one message: who has it, who was refused and why."""

    attempts: int
    accepted: list[str]
    """The recipients the server took the message for (250 to DATA): delivered."""
    failed: dict[str, tuple[bool, str]]
    """Recipient -> (permanent, why): refused for good (5xx), or still refused after the last
    attempt (4xx, a connection refused or dropped before the message went)."""


def _detail(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{exc.smtp_code} {' '.join(text.split())}"


def _quit_quietly(client: smtplib.SMTP) -> None:
    """QUIT, whatever the server answers (221, 421, a 5xx, nothing): once it said 250 to the
    message, the message is delivered, and nothing said after that changes it."""
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        client.close()


def _data_bytes(payload: bytes) -> bytes:
    """The message as DATA carries it: leading dots doubled, ended by CRLF . CRLF (RFC 5321)."""
    quoted = smtplib._quote_periods(payload)  # type: ignore[attr-defined]
    if not quoted.endswith(b"\r\n"):
        quoted += b"\r\n"
    return quoted + b".\r\n"


def _deliver_once(
    payload: bytes,
    sender: str,
    recipients: Sequence[str],
    config: EmailConfig,
    credentials: tuple[str, str] | None,
    before_data: Callable[[list[str]], None],
) -> tuple[list[str], dict[str, tuple[int, str]]]:
    """One SMTP transaction: the recipients the server took the message for, and those it
    refused with their reply. Raises InDoubt when the connection fails after the message was
    handed over, before the server's answer to it was read."""
    international = not "".join([sender, *recipients]).isascii()
    handed_over: list[str] = []
    client = _connect(config)
    try:
        client.ehlo_or_helo_if_needed()
        if credentials:
            client.login(*credentials)
        options: list[str] = []
        if international:
            if not client.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "an address needs SMTPUTF8, which the server does not offer"
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        code, reply = client.mail(sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        for recipient in recipients:
            code, reply = client.rcpt(recipient)
            if code in (250, 251):
                accepted.append(recipient)
            else:
                refused[recipient] = (
                    code,
                    f"{code} {' '.join(reply.decode(errors='replace').split())}",
                )
        if not accepted:
            return [], refused
        code, reply = client.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        before_data(accepted)  # recorded on disk before the server can have the message
        handed_over = accepted
        client.send(_data_bytes(payload))
        code, reply = client.getreply()
        if code != 250:  # an answer: the server did not take it
            raise smtplib.SMTPDataError(code, reply)
        return accepted, refused
    except smtplib.SMTPResponseException:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        if handed_over:
            raise InDoubt(f"{type(exc).__name__}: {exc}", handed_over) from None
        raise
    finally:
        _quit_quietly(client)


def deliver(
    payload: bytes,
    config: EmailConfig,
    credentials: tuple[str, str] | None,
    recipients: Sequence[str],
    sleep: Callable[[float], None] = time.sleep,
    before_data: Callable[[list[str]], None] = lambda _: None,
    delivered: Callable[[list[str]], None] = lambda _: None,
) -> Outcome:
    """Send the message (wire_bytes) to each recipient, retrying the transient refusals (a
    4xx, a connection refused or dropped before the message went) with exponential backoff;
    a 5xx is permanent for whom it refused. Each attempt goes only to the recipients not yet
    served: a recipient the server took the message for never gets it again.

    delivered: called with the recipients of each 250 to DATA, as soon as it is read.
    A failure after the message was handed over is never retried (InDoubt).
    """
    sender = parse_address(config.sender).addr_spec
    remaining = list(recipients)
    accepted_all: list[str] = []
    failed: dict[str, tuple[bool, str]] = {}
    attempt = 0
    for attempt in range(1, config.attempts + 1):
        try:
            accepted, refused = _deliver_once(
                payload, sender, remaining, config, credentials, before_data
            )
        except smtplib.SMTPResponseException as exc:
            accepted, refused = [], {r: (exc.smtp_code, _detail(exc)) for r in remaining}
        except smtplib.SMTPNotSupportedError as exc:
            accepted, refused = [], {r: (550, f"SMTPNotSupportedError: {exc}") for r in remaining}
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            accepted, refused = [], {r: (0, error) for r in remaining}
        if accepted:
            accepted_all += accepted
            delivered(accepted)
        for recipient, (code, why) in refused.items():
            failed[recipient] = (code >= 500, why)
        remaining = [r for r, (code, _) in refused.items() if code < 500]
        if not remaining:
            break
        if attempt < config.attempts:
            sleep(config.retry_delay_seconds * 2 ** (attempt - 1))
    for recipient in accepted_all:
        failed.pop(recipient, None)
    return Outcome(attempt, accepted_all, failed)


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


STEPS = ("data", "sent", "failed", "settled")
"""The journal's events that say where a recipient stands ("sending" only says an attempt began)."""


def _recipients_of(entry: dict[str, Any]) -> list[str]:
    """Whom a journal line is about: its "rcpt", else (lines before per-recipient tracking)
    every recipient of the message."""
    recipients = entry.get("rcpt", entry.get("to", []))
    return [r for r in recipients if isinstance(r, str)] if isinstance(recipients, list) else []


def _is_delivery(entry: dict[str, Any]) -> bool:
    return entry.get("event") == "sent" or (
        entry.get("event") == "settled" and entry.get("delivered") is True
    )


class Journal:
    """Append-only JSON lines, each flushed and fsynced before the step it records happens.

    Delivery is tracked per message (its key: the document, never its file name) and per
    recipient: where each stands (its last step) and what it was last delivered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last: dict[str, dict[str, Any]] = {}
        self.step: dict[tuple[str, str], dict[str, Any]] = {}
        self.delivered: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in _journal_entries(path):
            self._apply(entry)

    def _apply(self, entry: dict[str, Any]) -> None:
        key = entry["key"]
        self.last[key] = entry
        if entry.get("event") not in STEPS:
            return
        for recipient in _recipients_of(entry):
            self.step[(key, recipient)] = entry
            if _is_delivery(entry):
                self.delivered[(key, recipient)] = entry

    def in_doubt(self, key: str, recipient: str) -> bool:
        return self.step.get((key, recipient), {}).get("event") == "data"

    def settled_not_delivered(self) -> dict[str, tuple[dict[str, Any], list[str]]]:
        """Messages an operator settled as not delivered, and not delivered since: key ->
        (the settling line, its recipients still waiting)."""
        waiting: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for (key, recipient), entry in self.step.items():
            if entry.get("event") == "settled" and entry.get("delivered") is False:
                waiting.setdefault(key, (entry, []))[1].append(recipient)
        return waiting

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
                _fsync_folder(self.path.parent)
        except OSError as exc:
            raise JournalError(
                f"cannot write the email journal {self.path}: {exc.strerror or exc}"
            ) from None
        self._apply(entry)


def _fsync_folder(folder: Path) -> None:
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def delivery_key(mail: Message) -> str:
    """What makes two messages "the same message" across reruns: the document (the portfolio,
    or one vendor by ID) and its variant (internal or vendor-facing), never the file name, which
    changes with the vendor's name. Who has received it is tracked per recipient."""
    if not mail.document:
        return mail.attachment.as_posix()
    variant = mail.attachment.parent.as_posix()
    return mail.document if variant == "." else f"{mail.document}|{variant}"


JOURNAL_SUFFIX = ".emails.jsonl"
OUTBOX = ".emails-outbox"
"""OUT/.emails-outbox/<as-of>-<id>.eml: each message exactly as it was handed over, kept while
it is in doubt, so that one settled as not delivered can go out on a later night."""


def _journal_day(journal_path: Path) -> str:
    return journal_path.name.removesuffix(JOURNAL_SUFFIX)


def message_reference(journal_path: Path, message_id: str) -> str:
    """How an operator names a message: its as-of day and the start of its Message-ID."""
    return f"{_journal_day(journal_path)}/{message_id.strip('<>').split('@')[0][:12]}"


def _outbox_file(journal_path: Path, message_id: str) -> Path:
    return (
        journal_path.parent
        / OUTBOX
        / f"{message_reference(journal_path, message_id).replace('/', '-')}.eml"
    )


def _keep_in_outbox(journal_path: Path, message_id: str, payload: bytes) -> None:
    path = _outbox_file(journal_path, message_id)
    try:
        path.parent.mkdir(exist_ok=True)
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_folder(path.parent)
    except OSError as exc:
        raise JournalError(
            f"cannot keep a copy of the email in {path.parent}: {exc.strerror or exc}"
        ) from None


def _drop_from_outbox(journal_path: Path, message_id: str) -> None:
    _outbox_file(journal_path, message_id).unlink(missing_ok=True)


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
    Each recipient is served on its own: one who already has this content is skipped, one who
    has older content gets it as "[Revised]", the others get it as it is.
    """
    credentials = None if dry_run_dir else _credentials(config)
    journal = Journal(journal_path) if journal_path is not None and dry_run_dir is None else None
    # "already sent" carries a message forward from run to run, so a third run skips it too.
    earlier = {e["key"]: e for e in previous if e.get("status") in SENT and "key" in e}
    stopped: str | None = None
    records: list[dict[str, Any]] = []
    for number, mail in enumerate(mails, start=1):
        attachment = (run_dir / mail.attachment).read_bytes()
        digest = _sha256(attachment)
        key = delivery_key(mail)
        record: dict[str, Any] = {
            "key": key,
            "to": list(mail.to),
            "subject": mail.subject,
            "attachment": mail.attachment.as_posix(),
            "attachment_sha256": digest,
            "attached": not mail.dropped,
            "revision": 0,
        }
        if mail.dropped:
            record["attachment_dropped"] = mail.dropped
        if dry_run_dir is not None:
            try:
                message = build_message(mail, config.sender, attachment, key,
                                        date=dry_run_date(as_of) if as_of else None,
                                        reply_to=config.reply_to)  # fmt: skip
            except ValueError as exc:
                records.append(record | {"status": "failed", "permanent": True,
                                         "error": f"ValueError: {exc}".splitlines()[0]})  # fmt: skip
                continue
            eml = dry_run_dir / f"{number:03d}-{mail.attachment.stem}.eml"
            eml.parent.mkdir(parents=True, exist_ok=True)
            eml.write_bytes(wire_bytes(message))
            records.append(record | {"status": "dry run", "eml": eml.name,
                                     "message_id": message["Message-ID"]})  # fmt: skip
            continue
        statuses: dict[str, str] = {}
        errors: dict[str, tuple[bool, str]] = {}
        batches: dict[tuple[str, int], list[str]] = {}
        shown: dict[str, Any] = {}
        for recipient in mail.to:
            # Journals and manifests written before the document key knew a message by its
            # recipients and file name: a same-day rerun after an upgrade still sees them.
            legacy = f"{','.join(sorted(mail.to))}|{mail.attachment.as_posix()}"
            if journal is not None and (
                journal.in_doubt(key, recipient) or journal.in_doubt(legacy, recipient)
            ):
                statuses[recipient] = "in doubt"
                continue
            before = None
            if journal is not None:
                before = journal.delivered.get((key, recipient)) or journal.delivered.get(
                    (legacy, recipient)
                )
            for old in (key, legacy):
                if before is None and recipient in earlier.get(old, {}).get("to", []):
                    before = earlier[old]
            if before is None:
                batches.setdefault((mail.subject, 0), []).append(recipient)
            elif before.get("attachment_sha256") == digest:
                revision = int(before.get("revision", 0))
                if resend:
                    record["resent"] = True
                    batches.setdefault((before.get("subject", mail.subject), revision), []).append(
                        recipient
                    )
                else:
                    statuses[recipient] = "already sent"
                    shown = shown or {
                        "subject": before.get("subject", mail.subject),
                        "revision": revision,
                    }
            else:
                # The same document with other content: the data was corrected. Say so.
                revision = int(before.get("revision", 0)) + 1
                batches.setdefault((f"[Revised] {mail.subject}", revision), []).append(recipient)
        record |= shown
        for (subject, revision), recipients in batches.items():
            if "message_id" not in record:
                record |= {"subject": subject, "revision": revision}
            if stopped is not None:
                errors |= dict.fromkeys(recipients, (False, stopped))
                continue
            try:
                message = build_message(dataclasses.replace(mail, subject=subject), config.sender,
                                        attachment, key, reply_to=config.reply_to)  # fmt: skip
            except ValueError as exc:
                errors |= dict.fromkeys(recipients, (True, f"ValueError: {exc}".splitlines()[0]))
                continue
            record.setdefault("message_id", message["Message-ID"])
            fields = _journal_fields(record | {"subject": subject, "revision": revision,
                                               "message_id": message["Message-ID"]})  # fmt: skip
            try:
                attempts = _send_batch(wire_bytes(message), key, recipients, config, credentials,
                                       journal, journal_path, fields, statuses, errors)  # fmt: skip
                record["attempts"] = max(record.get("attempts", 0), attempts)
            except JournalError as exc:
                stopped = f"not sent: {exc}"
                for recipient in recipients:
                    if recipient not in statuses:
                        errors[recipient] = (False, str(exc))
        for recipient in errors:
            statuses.setdefault(recipient, "failed")
        record["recipients"] = {r: statuses.get(r, "failed") for r in mail.to}
        record |= _overall(record["recipients"], errors, journal_path)
        records.append(record)
    return records


def _overall(
    statuses: dict[str, str], errors: dict[str, tuple[bool, str]], journal_path: Path | None
) -> dict[str, Any]:
    """A message's status from its recipients': in doubt, failed, sent or already sent."""
    values = set(statuses.values())
    if "in doubt" in values:
        doubtful = [r for r, s in statuses.items() if s == "in doubt"]
        return {"status": "in doubt", "error": (
            f"handed to the server for {', '.join(doubtful)} but its answer was never recorded, "
            "so it may have arrived; it is not sent again until settled (scorecard emails settle)"
        )}  # fmt: skip
    if "failed" in values:
        failed = [r for r, s in statuses.items() if s == "failed"]
        first = errors.get(failed[0], (False, "not sent"))
        return {
            "status": "failed",
            "permanent": all(errors.get(r, (False, ""))[0] for r in failed),
            # Only some refused: say which (the others have it).
            "error": first[1]
            if len(failed) == len(statuses)
            else f"{', '.join(failed)}: {first[1]}",
        }
    return {"status": "sent" if "sent" in values else "already sent"}


def _journal_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("to", "subject", "attachment", "attachment_sha256", "revision",
                                   "message_id") if k in record}  # fmt: skip


def _send_batch(
    payload: bytes,
    key: str,
    recipients: list[str],
    config: EmailConfig,
    credentials: tuple[str, str] | None,
    journal: Journal | None,
    journal_path: Path | None,
    fields: dict[str, Any],
    statuses: dict[str, str],
    errors: dict[str, tuple[bool, str]],
) -> int:
    """sending -> (connect, MAIL, RCPT) -> data -> (DATA) -> sent or failed, per recipient,
    each step on disk first; the message is kept in the outbox while it may be in doubt.
    Returns the attempts made."""
    message_id = fields["message_id"]

    def record(event: str, who: list[str], **extra: Any) -> None:
        if journal is not None:
            journal.record(event, key, fields | {"rcpt": who, **extra})

    def before_data(envelope: list[str]) -> None:
        if journal is not None and journal_path is not None:
            _keep_in_outbox(journal_path, message_id, payload)
        record("data", _named(recipients, envelope))

    def delivered(envelope: list[str]) -> None:
        who = _named(recipients, envelope)
        statuses.update(dict.fromkeys(who, "sent"))  # true even if the journal cannot say so
        record("sent", who)

    record("sending", recipients)
    try:
        outcome = deliver(payload, config, credentials, _envelope(recipients), before_data=before_data,
                          delivered=delivered)  # fmt: skip
    except InDoubt as exc:
        statuses.update(dict.fromkeys(_named(recipients, exc.recipients), "in doubt"))
        for recipient in recipients:
            errors.setdefault(recipient, (False, f"not sent: {exc}"))
        return 1
    failed = {r: outcome.failed[a] for r, a in zip(recipients, _envelope(recipients), strict=True)
              if a in outcome.failed}  # fmt: skip
    errors |= failed
    for (permanent, error), who in _grouped(failed).items():
        record("failed", who, error=error, permanent=permanent)
    if journal_path is not None:
        _drop_from_outbox(journal_path, message_id)
    return outcome.attempts


def _envelope(recipients: Sequence[str]) -> list[str]:
    return [parse_address(r).addr_spec for r in recipients]


def _named(recipients: Sequence[str], envelope: Sequence[str]) -> list[str]:
    """The recipients, as the config spells them, whose envelope address is among these."""
    wanted = set(envelope)
    return [r for r in recipients if parse_address(r).addr_spec in wanted]


def _grouped(failed: dict[str, tuple[bool, str]]) -> dict[tuple[bool, str], list[str]]:
    groups: dict[tuple[bool, str], list[str]] = {}
    for recipient, why in failed.items():
        groups.setdefault(why, []).append(recipient)
    return groups


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
    """send_all, then what earlier nights left: a message settled as not delivered goes out
    now; every message still in doubt, from any night, is named (the run exits 1) until an
    operator settles it.

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
    failed = [e for e in emails if e["status"] == "failed"]
    if failed:
        problems.append(
            f"{len(failed)} of {len(emails)} emails failed, first to "
            f"{', '.join(failed[0]['to'])}: {failed[0]['error']}"
        )
    if not dry_run:
        tonight = {delivery_key(m) for m in messages}
        problems += send_settled_not_delivered(config, journal_path, tonight)
        problems += [doubt.line() for doubt in messages_in_doubt(journal_path.parent)]
    return Delivery(emails, problems, dropped_attachment_notices(emails, config.max_attachment_mb))


@dataclass(frozen=True)
class Doubt:
    """A message handed to the server whose answer was never recorded: it may have arrived."""

    reference: str
    """<as-of>/<start of its Message-ID>: what `scorecard emails settle` takes."""
    journal: Path
    key: str
    recipients: list[str]
    entry: dict[str, Any]
    """Its "data" line in the journal."""

    def line(self) -> str:
        return (
            f'email in doubt: {self.reference} "{self.entry.get("subject", "")}" to '
            f"{', '.join(self.recipients)} was handed to the server but its answer was never "
            "recorded, so it may have arrived; it is not sent again. Ask a recipient, then run "
            f"`scorecard emails settle {self.reference} --delivered` (or --not-delivered to send "
            "it on the next run)"
        )


def messages_handed_over(journal: Path) -> set[str]:
    """The keys of a night's messages that reached a server for some recipient: sent, in doubt
    (it may have arrived), or settled (delivered, or waiting in the outbox to go as it was)."""
    return {key for (key, _), entry in Journal(journal).step.items() if entry.get("event") in
            ("data", "sent", "settled")}  # fmt: skip


def messages_in_doubt(out_dir: Path) -> list[Doubt]:
    """Every message in doubt in every journal of the output folder, oldest night first."""
    doubts = []
    for path in sorted(out_dir.glob(f"*{JOURNAL_SUFFIX}")):
        journal = Journal(path)
        grouped: dict[tuple[str, str], list[str]] = {}
        entries: dict[tuple[str, str], dict[str, Any]] = {}
        for (key, recipient), entry in journal.step.items():
            if entry.get("event") == "data":
                ident = (key, str(entry.get("message_id", "")))
                grouped.setdefault(ident, []).append(recipient)
                entries[ident] = entry
        for (key, message_id), recipients in grouped.items():
            reference = message_reference(path, message_id)
            doubts.append(Doubt(reference, path, key, recipients, entries[(key, message_id)]))
    return doubts


def settle(out_dir: Path, reference: str, delivered: bool) -> str:
    """Record an operator's word on a message in doubt; the line that says what now happens.

    delivered: it arrived (it counts as sent, never goes again); else it goes out on the next
    run (with --send), exactly as it was handed over."""
    doubts = messages_in_doubt(out_dir)
    matching = [d for d in doubts if d.reference == reference.strip()]
    if not matching:
        known = ", ".join(d.reference for d in doubts)
        raise ConfigError(
            f"no email in doubt is {reference!r} in {out_dir}"
            + (f"; in doubt: {known}" if known else "; no email is in doubt there")
        )
    for doubt in matching:
        fields = {k: v for k, v in doubt.entry.items() if k not in ("event", "key", "rcpt")}
        Journal(doubt.journal).record("settled", doubt.key, fields | {"rcpt": doubt.recipients,
                                                                      "delivered": delivered})  # fmt: skip
        if delivered:
            _drop_from_outbox(doubt.journal, str(fields.get("message_id", "")))
    who = ", ".join(r for d in matching for r in d.recipients)
    if delivered:
        return f"{reference} to {who} settled as delivered: it counts as sent and never goes again"
    return f"{reference} to {who} settled as not delivered: the next run with --send sends it"


def send_settled_not_delivered(
    config: EmailConfig, journal_path: Path, tonight: set[str]
) -> list[str]:
    """Send each message an operator settled as not delivered, from any night's journal, exactly
    as it was handed over (kept in the outbox); tonight's own messages were sent with the run.
    Returns the lines on what could not go."""
    problems = []
    credentials: tuple[str, str] | None = None
    for path in sorted(journal_path.parent.glob(f"*{JOURNAL_SUFFIX}")):
        journal = Journal(path)
        for key, (entry, recipients) in journal.settled_not_delivered().items():
            if path == journal_path and key in tonight:
                continue
            message_id = str(entry.get("message_id", ""))
            stored = _outbox_file(path, message_id)
            reference = message_reference(path, message_id)
            try:
                payload = stored.read_bytes()
            except OSError:
                problems.append(
                    f"email {reference} to {', '.join(recipients)} was settled as not delivered, "
                    f"but its copy {stored} is gone: it cannot be sent again"
                )
                continue
            credentials = credentials or _credentials(config)
            fields = {
                k: v for k, v in entry.items() if k not in ("event", "key", "rcpt", "delivered")
            }
            statuses: dict[str, str] = {}
            errors: dict[str, tuple[bool, str]] = {}
            try:
                _send_batch(payload, key, recipients, config, credentials, journal, path, fields,
                            statuses, errors)  # fmt: skip
            except JournalError as exc:
                return [*problems, f"not sent: {exc}"]
            failed = [r for r in recipients if statuses.get(r) != "sent"]
            if failed and not any(statuses.get(r) == "in doubt" for r in failed):
                problems.append(
                    f"email {reference} (settled as not delivered) failed again to "
                    f"{', '.join(failed)}: {errors.get(failed[0], (False, 'not sent'))[1]}"
                )
    return problems


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
