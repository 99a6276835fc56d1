"""What goes to whom: the run's messages, each with its body built from the reports' own view
models (build_portfolio, build_vendor), in plain text and HTML, and the document it carries.

The portfolio pack goes to email.portfolio_recipients; each vendor's internal scorecard to
its manager_email; the vendor-facing one to email.vendor_contacts. Sending them is the
output stage's (output/email.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from reports.build import ReportInputs, build_portfolio, report_slugs, unscored_vendors
from reports.mail import Notice, email_body, portfolio_email, vendor_email
from reports.render import template_environment
from reports.vendor import build_vendor
from reports.view import context_for, document_key
from scorecard.config import EmailConfig
from scoring.periods import months_of

MEGABYTE = 1024 * 1024
PACK = ""
"""The pack's key among the night's notes (output.ledger.PORTFOLIO)."""


@dataclass(frozen=True)
class Message:
    to: tuple[str, ...]
    subject: str
    body: str
    attachment: Path
    """Relative to the run folder."""
    document: str = ""
    """The document key the attachment must record (reports.view.document_key)."""
    html: str = ""
    """The HTML alternative of the body (empty: plain text only)."""
    dropped: str = ""
    """Why the attachment is left out (over email.max_attachment_mb); empty: it is attached.
    The body then says where the file is."""

    @property
    def key(self) -> str:
        """What makes two messages "the same message" across reruns."""
        return f"{','.join(sorted(self.to))}|{self.attachment.as_posix()}"


def attachment_suffix(formats: Sequence[str]) -> str | None:
    """What the messages attach: the PDF, else the HTML; None when neither is made."""
    return ".pdf" if "pdf" in formats else ".html" if "html" in formats else None


def run_messages(
    inputs: ReportInputs,
    suffix: str,
    size_of: Callable[[Path], int],
    run_dir: Path,
    vendors: Sequence[str] = (),
    portfolio: bool = True,
    notes: Mapping[str, str] | None = None,
) -> list[Message]:
    """The run's messages, in sending order: the pack first, then each vendor's by vendor ID.

    suffix: ".pdf" or ".html", the documents attached. size_of: an attachment's size in
    bytes, by its path in the run folder. run_dir: where the run is published (named in a
    body whose attachment is too large). vendors: only these vendors' messages (with
    portfolio, the pack's too); empty: everyone's. notes: the night's cadence (contract
    section 11), when given: only these vendors' messages and, under the key "", the pack's,
    each subject followed by its note in brackets ("alert: standing good -> watch").
    """
    table, config, periods = inputs.table, inputs.config, inputs.periods
    current = periods[-1]
    environment = template_environment(
        config.scoring.standings, config.reports.template_folder(config.base_dir)
    )
    slugs = report_slugs(table, config.run.scorecards)

    def body(model: dict[str, Any]) -> dict[str, str]:
        made = email_body(environment, model)
        return {"body": made.text, "html": made.html}

    def attachment(path: Path, vendor_facing: bool) -> tuple[Notice | None, str]:
        notice = attachment_notice(size_of(path), path, config.email, run_dir, vendor_facing)
        return notice, "" if notice is None else notice.reason

    messages = []
    selected = set(vendors)
    recipients = config.email.portfolio_recipients
    if notes is not None:
        selected, portfolio = {v for v in notes if v}, PACK in notes

    def noted(subject: str, key: str) -> str:
        note = (notes or {}).get(key, "")
        return f"{subject} ({note})" if note and note not in subject else subject

    if recipients and (not selected or portfolio) and (notes is None or PACK in notes):
        title = f"Vendor performance review {current.label}"
        context = context_for(config, periods, inputs.as_of, title, document_key(None))
        path = Path(f"portfolio{suffix}")
        # No control charts: the email names no signals, and they are the costly part.
        pack = build_portfolio(inputs, slugs, charts_by_vendor={})
        notice, dropped = attachment(path, vendor_facing=False)
        messages.append(
            Message(
                to=tuple(recipients),
                subject=noted(f"{title} (as of {inputs.as_of})", PACK),
                attachment=path,
                document=document_key(None),
                dropped=dropped,
                **body(portfolio_email(pack, context, notice)),
            )
        )
    managers = dict(inputs.data.vendors.select("vendor_id", "manager_email").drop_nulls().rows())
    contacts = config.email.vendor_contacts
    ranked = table.filter((pl.col("period") == current.label) & pl.col("rank").is_not_null()).height
    current_months = [m.label for m in months_of([current])]
    totals = table.filter((pl.col("process") == "ALL") & (pl.col("period") == current.label))

    def scorecard_message(to: str, vendor_id: str, subject: str, internal: bool) -> Message:
        """The internal scorecard, or the vendor-facing one, with its own model's body."""
        context = context_for(config, periods, inputs.as_of, subject, document_key(vendor_id))
        folder = "vendors" if internal else "vendor-facing"
        path = Path(folder) / f"{slugs[vendor_id]}{suffix}"
        notice, dropped = attachment(path, vendor_facing=not internal)
        # The vendor-facing model has no peers, no in-house costs, no internal notes.
        model = build_vendor(inputs, vendor_id, ranked, internal=internal)
        return Message((to,), subject, attachment=path, document=document_key(vendor_id),
                       dropped=dropped,
                       **body(vendor_email(model, context, current_months, notice)))  # fmt: skip

    for row in totals.sort("vendor_id").iter_rows(named=True):
        vendor_id = row["vendor_id"]
        if (selected or notes is not None) and vendor_id not in selected:
            continue
        if vendor_id not in slugs:  # not scored in any period: no scorecard, so no message
            continue
        subject = noted(f"Vendor scorecard {current.label}: {row['vendor_name']}", vendor_id)
        if manager := managers.get(vendor_id):
            messages.append(scorecard_message(manager, vendor_id, subject, internal=True))
        contact = contacts.get(vendor_id)
        # Only the vendor-facing scorecard may go to a vendor: the run refuses contacts
        # without reports.vendor_facing before it starts (scorecard.api).
        if contact and row["sourcing"] != "in_house":
            messages.append(scorecard_message(contact, vendor_id, subject, internal=False))
    return messages


def vendors_without_manager(inputs: ReportInputs, vendors: Sequence[str] = ()) -> list[str]:
    """The scored vendors (of those selected) whose scorecard reaches no one inside the
    company: they have no manager_email. Never silent: the run says so. A vendor not scored in
    any period has no scorecard to send, so it is never named here."""
    current = inputs.periods[-1].label
    scored = inputs.table.filter(
        (pl.col("process") == "ALL")
        & (pl.col("period") == current)
        & ~pl.col("vendor_id").is_in(unscored_vendors(inputs.table))
    )
    managed = inputs.data.vendors.filter(pl.col("manager_email").is_not_null())
    missing = scored.join(managed.select("vendor_id"), on="vendor_id", how="anti")
    selected = set(vendors)
    return sorted(v for v in missing.get_column("vendor_id") if not selected or v in selected)


def attachment_notice(
    size: int, relative: Path, settings: EmailConfig, run_dir: Path, vendor_facing: bool
) -> Notice | None:
    """None when the file fits under email.max_attachment_mb; else why it is left out, and where
    it is: under email.link_base when set, else in the output folder (never told to a vendor,
    who cannot reach it: they are asked to reply)."""
    if size <= settings.max_attachment_mb * MEGABYTE:
        return None
    reason = (
        f"at {size / MEGABYTE:.1f} MB it is over the {settings.max_attachment_mb:g} MB "
        "limit for attachments"
    )
    if settings.link_base:
        where = f"{settings.link_base.rstrip('/')}/{run_dir.name}/{relative.as_posix()}"
    else:
        where = "" if vendor_facing else str((run_dir / relative).absolute())
    return Notice(reason, where, is_link=where.startswith(("https://", "http://")))
