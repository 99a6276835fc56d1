"""One run of the job: extract -> scoring -> reports -> output, with config resolved once."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import polars as pl

from scorecard import __version__
from scorecard.config import Config, TableSource
from scorecard.errors import ConfigError, LockError, OutputError
from scorecard.extract.activity import Activity, extract_activity, received_range
from scorecard.extract.source import open_engine
from scorecard.extract.summaries import Window
from scorecard.output.email import Outgoing, send_all
from scorecard.output.files import (
    make_staging_folder,
    publish_run_folder,
    restore_unpublished_run,
    sha256_of,
    write_bytes_atomic,
)
from scorecard.output.tables import csv_bytes, json_bytes
from scorecard.reports.build import ReportInputs, build_portfolio, render_reports, report_slugs
from scorecard.reports.mail import Notice, email_body, portfolio_email, vendor_email
from scorecard.reports.render import template_environment
from scorecard.reports.vendor import build_vendor
from scorecard.reports.view import context_for, document_key
from scorecard.scoring.credits import ServiceCredits, run_credits, unknown_contract_vendors
from scorecard.scoring.periods import Period, PeriodKind, months_of, periods_for
from scorecard.scoring.table import score_table
from scorecard.urls import redact_url

LOCK_NAME = ".scorecard.lock"


@dataclass(frozen=True)
class RunRequest:
    config: Config
    database_url: str
    as_of: dt.date
    period: PeriodKind
    history_periods: int
    out_dir: Path
    formats: tuple[str, ...]
    send: bool = False
    email_dry_run: bool = False
    """With send: write each message as an .eml file under emails/ instead of sending it."""
    vendors: tuple[str, ...] = ()
    """--vendor: render and email only these vendors' scorecards (empty: every vendor)."""
    portfolio: bool = True
    """With vendors: also render and email the portfolio pack (--no-portfolio turns it off)."""
    resend: bool = False
    """With vendors: send their messages again even when the same ones were sent before."""


@dataclass
class RunResult:
    run_dir: Path
    exit_code: int
    problems: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    """What the reader should know but is not a failure (an email sent without its attachment)."""


Progress = Callable[[str], None]


@contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """One run at a time per output folder; a second run fails at once with exit 4."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir / LOCK_NAME
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockError(f"another scorecard run holds the lock {lock_path}") from None
        try:
            _remove_leftovers(out_dir)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(out_dir: Path) -> None:
    """Staging folders of runs that were killed: never published, safe to delete under the lock.

    A `.previous` folder is a complete run: put back if its run folder is missing.
    """
    for leftover in out_dir.glob(".*.staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    restore_unpublished_run(out_dir)


def _point_latest(out_dir: Path, run_name: str) -> None:
    """out/latest -> the run just published, swapped atomically."""
    temporary = out_dir / f".latest-{os.getpid()}"
    try:
        temporary.unlink(missing_ok=True)
        os.symlink(run_name, temporary)
        os.replace(temporary, out_dir / "latest")
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(
            f"the run is complete in {out_dir / run_name}, but {out_dir / 'latest'} "
            f"cannot point at it: {exc.strerror or exc}"
        ) from None


def window_of(periods: Sequence[Period]) -> Window:
    """The extract stage's view of the periods: what to read, and how to cut it.

    Cut by calendar month, whatever the period: service levels are measured
    per month (contract section 9) and a quarter is the sum of its months.
    """
    return Window(tuple(months_of(periods)))


def rejection_problems(data: Activity, limit: float) -> list[str]:
    problems = []
    for table, counts in data.counts.items():
        if counts.read and counts.rejected / counts.read > limit:
            problems.append(
                f"{counts.rejected} of {counts.read} {table} rows rejected "
                f"({counts.rejected / counts.read:.1%}, limit {limit:.1%}): see data_quality.csv"
            )
    return problems


def _manifest(
    request: RunRequest,
    data: Activity,
    periods: list[Period],
    staging: Path,
    emails: list[dict[str, Any]],
    exit_code: int,
    problems: list[str],
    notices: Sequence[str] = (),
) -> dict[str, Any]:
    artifacts = sorted(p for p in staging.rglob("*") if p.is_file())
    return {
        "tool": {"name": "scorecard", "version": __version__},
        "as_of": request.as_of.isoformat(),
        "period": request.period,
        "periods": [
            {
                "label": p.label,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "is_current": p.is_current,
            }
            for p in periods
        ],
        "database": redact_url(request.database_url),
        "formats": list(request.formats),
        **(
            {"selection": {"vendors": list(request.vendors), "portfolio": request.portfolio}}
            if request.vendors
            else {}
        ),
        "config_file": request.config.source_path,
        "config": request.config.public_dict(),
        "tables": {
            **{
                name: {
                    "rows_read": c.read,
                    "rows_accepted": c.accepted,
                    "rows_rejected": c.rejected,
                }
                for name, c in data.counts.items()
            },
            **{name: {"absent": True} for name in data.not_measured},
        },
        "artifacts": [
            {
                "path": p.relative_to(staging).as_posix(),
                "bytes": p.stat().st_size,
                "sha256": sha256_of(p),
            }
            for p in artifacts
        ],
        "emails": emails,
        "exit_code": exit_code,
        "problems": problems,
        "notices": list(notices),
    }


def run(
    request: RunRequest,
    progress: Progress = lambda _: None,
    tick: Callable[[int, int], None] = lambda done, total: None,
) -> RunResult:
    config = request.config
    final_dir = request.out_dir / request.as_of.isoformat()
    with run_lock(request.out_dir):
        progress(f"reading {redact_url(request.database_url)}")
        engine = open_engine(
            request.database_url,
            config.database.statement_timeout_seconds,
            read_only=True,
            source_queries=[s.query for s in config.source.values() if s and s.query],
            duckdb_memory_mb=config.database.duckdb_memory_mb,
        )
        periods = periods_for(
            request.as_of,
            request.period,
            request.history_periods,
            config.run.fiscal_year_start_month,
        )
        extract_started = time.perf_counter()
        # The keys are canonical table names (checked by the config), so str keys are exact.
        sources = cast(Mapping[str, TableSource], config.source)
        try:
            # The keys are canonical table names (checked by the config), so str keys are exact.
            data = extract_activity(
                engine,
                window_of(periods),
                config.currency,
                config.response_targets_hours.hours(),
                sources,
                progress,
                config.database.parallel_queries,
            )
        finally:
            engine.dispose()
        progress(
            "validated: "
            + ", ".join(f"{n} {c.accepted}/{c.read}" for n, c in data.counts.items())
            + " rows accepted"
        )
        table = score_table(data, periods, config)
        if table.is_empty():
            return _nothing_to_score(request, data, periods, final_dir, engine, sources)
        progress(
            f"scored {table.height} rows over {len(periods)} periods "
            f"(extract and score: {time.perf_counter() - extract_started:.2f} s)"
        )
        problems = rejection_problems(data, config.run.max_rejected_fraction)
        vendor_ids = data.vendors.get_column("vendor_id").to_list()
        for vendor_id in unknown_contract_vendors(config.contracts, vendor_ids):
            progress(
                f"warning: contracts.{vendor_id}: no such vendor in the data; its contract is left out"
            )
        credits = run_credits(data, periods, config)
        _check_selection(request.vendors, table.get_column("vendor_id").unique().to_list())

        staging = make_staging_folder(request.out_dir, f".{final_dir.name}.staging-")
        expected = _expected_documents(table)
        try:
            if request.vendors:
                # The other vendors' documents stay as the last run wrote them.
                _carry_over(final_dir, staging, expected)
            _write_tables(staging, table, data.data_quality, request.formats, credits)
            wanted = [f for f in ("html", "pdf") if f in request.formats]
            inputs = ReportInputs(
                table=table,
                data=data,
                periods=periods,
                config=config,
                as_of=request.as_of,
                credits=credits,
            )
            if wanted:
                # Each document is written as soon as it is made: none is held in memory.
                render_reports(
                    inputs,
                    wanted,
                    progress,
                    tick=tick,
                    sink=lambda relative, content: write_bytes_atomic(staging / relative, content),
                    vendors=request.vendors or None,
                    portfolio=request.portfolio,
                )
            # Checked before any email goes out: a broken PDF is never sent.
            _check_documents(staging, expected)
            emails: list[dict[str, Any]] = []
            # What the day's last complete run recorded as emailed: read once.
            earlier_emails = _previous_emails(final_dir)
            notices: list[str] = []
            if request.send:
                mails = outgoing_mail(inputs, request, staging, final_dir)
                _check_attachments(staging, mails)
                progress(f"{'writing' if request.email_dry_run else 'sending'} {len(mails)} emails")
                emails = send_all(
                    mails,
                    config.email,
                    staging,
                    previous=earlier_emails,
                    dry_run_dir=staging / "emails" if request.email_dry_run else None,
                    journal_path=email_journal_path(request),
                    resend=request.resend,
                    as_of=request.as_of,
                )
                notices += dropped_attachment_notices(emails, config.email.max_attachment_mb)
                in_doubt = [e for e in emails if e["status"] == "in doubt"]
                if in_doubt:
                    problems.append(
                        f"{len(in_doubt)} email in doubt, to {', '.join(in_doubt[0]['to'])} "
                        f"({in_doubt[0]['attachment']}): it may have arrived and is not sent again; "
                        f"see {email_journal_path(request)}"
                    )
                failed = [e for e in emails if e["status"] == "failed"]
                if failed:
                    problems.append(
                        f"{len(failed)} of {len(emails)} emails failed, first to "
                        f"{', '.join(failed[0]['to'])}: {failed[0]['error']}"
                    )
            exit_code = 1 if problems else 0
            if request.vendors:
                emails = _with_earlier_emails(emails, earlier_emails)
            manifest = _manifest(
                request, data, periods, staging, emails, exit_code, problems, notices
            )
            write_bytes_atomic(
                staging / "manifest.json",
                (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
            )
            _check_not_empty(manifest)
            publish_run_folder(staging, final_dir)
            _point_latest(request.out_dir, final_dir.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return RunResult(
        run_dir=final_dir,
        exit_code=exit_code,
        problems=problems,
        artifacts=[a["path"] for a in manifest["artifacts"]] + ["manifest.json"],
        counts=manifest["tables"],
        notices=notices,
    )


def email_journal_path(request: RunRequest) -> Path:
    """The day's email journal: beside the run folders, so it outlives every run of the day."""
    return request.out_dir / f"{request.as_of.isoformat()}.emails.jsonl"


def why_nothing_to_score(
    data: Activity, periods: Sequence[Period], received: tuple[dt.datetime, dt.datetime] | None
) -> str:
    """One line: the rule that rejected the most rows, or where the data is against the periods."""
    span = f"{periods[0].start} to {periods[-1].end}"
    quality = data.data_quality
    items = data.counts.get("work_items")
    if items is not None and items.read and not items.accepted and not quality.is_empty():
        worst = (
            quality.group_by("table", "rule")
            .agg(pl.col("rows_rejected").sum(), pl.col("example_values").drop_nulls().first())
            .sort("rows_rejected", "table", "rule", descending=[True, False, False])
            .row(0, named=True)
        )
        values = f" ({worst['example_values']})" if worst["example_values"] else ""
        return (
            f"nothing to score from {span}: all {items.read:,} work items read were rejected; "
            f"the rule rejecting the most rows is {worst['table']} {worst['rule']}: "
            f"{worst['rows_rejected']:,} rows{values}; see data_quality.csv"
        )
    if received is None:
        return f"nothing to score from {span}: the work items source has no rows"
    return (
        f"nothing to score from {span}: the work items were received from "
        f"{received[0]:%Y-%m-%d} to {received[1]:%Y-%m-%d} (check --as-of and --period)"
    )


def _nothing_to_score(
    request: RunRequest,
    data: Activity,
    periods: list[Period],
    final_dir: Path,
    engine: Any,
    sources: Mapping[str, TableSource],
) -> RunResult:
    """Exit 1 with data_quality.csv and manifest.json (no reports) and one line saying why.

    `latest` keeps pointing at the last run that has reports.
    """
    try:
        received = received_range(engine, sources)
    finally:
        engine.dispose()
    problems = [why_nothing_to_score(data, periods, received)]
    staging = make_staging_folder(request.out_dir, f".{final_dir.name}.staging-")
    try:
        write_bytes_atomic(staging / "data_quality.csv", csv_bytes(data.data_quality))
        manifest = _manifest(request, data, periods, staging, [], 1, problems)
        write_bytes_atomic(
            staging / "manifest.json",
            (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        )
        publish_run_folder(staging, final_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunResult(
        run_dir=final_dir,
        exit_code=1,
        problems=problems,
        artifacts=[a["path"] for a in manifest["artifacts"]] + ["manifest.json"],
        counts=manifest["tables"],
    )


def _previous_emails(run_dir: Path) -> list[dict[str, Any]]:
    """What the last complete run for the same day recorded as emailed, so nothing goes twice."""
    try:
        emails = json.loads((run_dir / "manifest.json").read_text("utf-8")).get("emails", [])
    except (OSError, ValueError):
        return []
    return emails if isinstance(emails, list) else []


def outgoing_mail(
    inputs: ReportInputs, request: RunRequest, staging: Path, final_dir: Path
) -> list[Outgoing]:
    """The portfolio pack to the configured list; each vendor's scorecard to its manager_email.

    Each body is built from the reports' own view models (build_portfolio,
    build_vendor), in plain text and HTML. An attachment over
    email.max_attachment_mb is left out, and the body says where the file is.
    """
    suffix = ".pdf" if "pdf" in request.formats else ".html" if "html" in request.formats else None
    if suffix is None:
        raise ConfigError("--send needs pdf or html among the formats: there is nothing to attach")
    table, config, periods = inputs.table, request.config, inputs.periods
    current = periods[-1]
    environment = template_environment(
        config.scoring.standings, config.reports.template_folder(config.base_dir)
    )
    slugs = report_slugs(table)

    def body(model: dict[str, Any]) -> dict[str, str]:
        made = email_body(environment, model)
        return {"body": made.text, "html": made.html}

    def attachment(path: Path, vendor_facing: bool) -> tuple[Notice | None, str]:
        notice = attachment_notice(staging / path, path, request, final_dir, vendor_facing)
        return notice, "" if notice is None else notice.reason

    mails = []
    # With --vendor: only those vendors' messages, and the pack's unless --no-portfolio.
    selected = set(request.vendors)
    recipients = config.email.portfolio_recipients
    if recipients and (not selected or request.portfolio):
        title = f"Vendor performance review {current.label}"
        context = context_for(config, periods, request.as_of, title, document_key(None))
        path = Path(f"portfolio{suffix}")
        # No control charts: the email names no signals, and they are the costly part.
        portfolio = build_portfolio(inputs, slugs, charts_by_vendor={})
        notice, dropped = attachment(path, vendor_facing=False)
        mails.append(
            Outgoing(
                to=tuple(recipients),
                subject=f"{title} (as of {request.as_of})",
                attachment=path,
                document=document_key(None),
                dropped=dropped,
                **body(portfolio_email(portfolio, context, notice)),
            )
        )
    managers = dict(inputs.data.vendors.select("vendor_id", "manager_email").drop_nulls().rows())
    contacts = config.email.vendor_contacts
    ranked = table.filter((pl.col("period") == current.label) & pl.col("rank").is_not_null()).height
    current_months = [m.label for m in months_of([current])]
    totals = table.filter((pl.col("process") == "ALL") & (pl.col("period") == current.label))

    def scorecard_mail(to: str, vendor_id: str, subject: str, internal: bool) -> Outgoing:
        """The internal scorecard, or the vendor-facing one, with its own model's body."""
        context = context_for(config, periods, request.as_of, subject, document_key(vendor_id))
        folder = "vendors" if internal else "vendor-facing"
        path = Path(folder) / f"{slugs[vendor_id]}{suffix}"
        notice, dropped = attachment(path, vendor_facing=not internal)
        # The vendor-facing model has no peers, no in-house costs, no internal notes.
        model = build_vendor(inputs, vendor_id, ranked, internal=internal)
        return Outgoing((to,), subject, attachment=path, document=document_key(vendor_id),
                        dropped=dropped,
                        **body(vendor_email(model, context, current_months, notice)))  # fmt: skip

    for row in totals.sort("vendor_id").iter_rows(named=True):
        vendor_id = row["vendor_id"]
        if selected and vendor_id not in selected:
            continue
        subject = f"Vendor scorecard {current.label}: {row['vendor_name']}"
        if manager := managers.get(vendor_id):
            mails.append(scorecard_mail(manager, vendor_id, subject, internal=True))
        contact = contacts.get(vendor_id)
        if contact and row["sourcing"] != "in_house":
            if not config.reports.vendor_facing:
                raise ConfigError(
                    "email.vendor_contacts needs reports.vendor_facing = true: "
                    "only the vendor-facing scorecard may go to a vendor"
                )
            mails.append(scorecard_mail(contact, vendor_id, subject, internal=False))
    return mails


MEGABYTE = 1024 * 1024


def attachment_notice(
    file: Path, relative: Path, request: RunRequest, final_dir: Path, vendor_facing: bool
) -> Notice | None:
    """None when the file fits under email.max_attachment_mb; else why it is left out, and where
    it is: under email.link_base when set, else in the output folder (never told to a vendor,
    who cannot reach it: they are asked to reply)."""
    settings = request.config.email
    size = file.stat().st_size
    if size <= settings.max_attachment_mb * MEGABYTE:
        return None
    reason = (
        f"at {size / MEGABYTE:.1f} MB it is over the {settings.max_attachment_mb:g} MB "
        "limit for attachments"
    )
    if settings.link_base:
        where = f"{settings.link_base.rstrip('/')}/{final_dir.name}/{relative.as_posix()}"
    else:
        where = "" if vendor_facing else str((final_dir / relative).absolute())
    return Notice(reason, where, is_link=where.startswith(("https://", "http://")))


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


def _write_tables(
    staging: Path,
    table: pl.DataFrame,
    data_quality: pl.DataFrame,
    formats: tuple[str, ...],
    credits: ServiceCredits | None = None,
) -> None:
    if "csv" in formats:
        write_bytes_atomic(staging / "scores.csv", csv_bytes(table))
    if "json" in formats:
        write_bytes_atomic(staging / "scores.json", json_bytes(table))
    if credits is not None:
        # Written whenever contracts are configured: the money owed is not a format choice.
        write_bytes_atomic(staging / "service_credits.csv", csv_bytes(credits.levels))
        if "json" in formats:
            write_bytes_atomic(staging / "service_credits.json", json_bytes(credits.levels))
    # Always written: a run must say what it rejected, whatever the formats.
    write_bytes_atomic(staging / "data_quality.csv", csv_bytes(data_quality))


def _check_selection(selected: Sequence[str], vendor_ids: Sequence[str]) -> None:
    unknown = sorted(set(selected) - set(vendor_ids))
    if unknown:
        raise ConfigError(
            f"--vendor {', '.join(unknown)}: no vendor with that ID in the data "
            "(IDs are matched exactly, as in scores.csv's vendor_id)"
        )


def _carry_over(final_dir: Path, staging: Path, expected: dict[str, str]) -> None:
    """The last run's documents, linked (not copied) into the new run: a run for some vendors
    replaces their documents and keeps everyone else's. A document whose path now means
    another vendor (the names changed since) is left behind, never carried over."""
    if not final_dir.is_dir():
        return
    for path in sorted(final_dir.rglob("*")):
        relative = path.relative_to(final_dir).as_posix()
        if not path.is_file() or relative == "manifest.json":
            continue
        if relative in expected and recorded_document(path) != expected[relative]:
            continue
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # A hard link: written files are replaced by rename, so the old run is never changed.
        os.link(path, target)


def _with_earlier_emails(
    emails: list[dict[str, Any]], earlier: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A run for some vendors keeps the record of every other message the day's runs sent."""
    keys = {e["key"] for e in emails}
    return [*(e for e in earlier if e.get("key") not in keys), *emails]


def _expected_documents(table: pl.DataFrame) -> dict[str, str]:
    """What each report file must record that it is: the portfolio, or one vendor's scorecard."""
    expected = {f"portfolio{suffix}": document_key(None) for suffix in (".pdf", ".html")}
    for vendor_id, slug in report_slugs(table).items():
        for folder in ("vendors", "vendor-facing"):
            for suffix in (".pdf", ".html"):
                expected[f"{folder}/{slug}{suffix}"] = document_key(vendor_id)
    return expected


_HTML_DOCUMENT = re.compile(r'<meta name="keywords" content="([^"]*)">')


def recorded_document(path: Path) -> str | None:
    """The document key a report recorded at render time (PDF Keywords, HTML keywords meta)."""
    if path.suffix == ".pdf":
        return _pdf_facts(path)[1]
    match = _HTML_DOCUMENT.search(path.read_text("utf-8", errors="replace")[:8192])
    return match.group(1) if match else None


def _pdf_facts(path: Path) -> tuple[int, str | None]:
    """A PDF's page count and recorded key, from its trailer alone: the cross-reference table,
    the document info and the page tree's root count (no page is parsed)."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    root = cast(Any, reader.trailer["/Root"])
    pages = root["/Pages"].get("/Count", 0)
    metadata = reader.metadata
    keywords = None if metadata is None else metadata.get("/Keywords")
    return int(pages), None if keywords is None else str(keywords)


def _check_not_empty(manifest: dict[str, Any]) -> None:
    """Never report success over an empty file."""
    for artifact in manifest["artifacts"]:
        if artifact["bytes"] == 0:
            raise OutputError(f"{artifact['path']} came out empty; the run is not published")


def _check_documents(staging: Path, expected: dict[str, str]) -> None:
    """Each PDF opens and has pages, and every report records the document its path promises.

    By the key recorded at render time, never by looking for the name in the
    text: text extraction changes spaces, joiners and right-to-left names, and
    "Acme" is in "Acme V-PH-MNL".
    """
    from pypdf.errors import PdfReadError

    for path in sorted([*staging.glob("*.*"), *staging.glob("*/*.*")]):
        relative = path.relative_to(staging).as_posix()
        if path.suffix not in (".pdf", ".html") or relative.startswith("emails/"):
            continue
        try:
            # One read per PDF: its page count and key both come from the trailer.
            if path.suffix == ".pdf":
                pages, recorded = _pdf_facts(path)
            else:
                pages, recorded = 1, recorded_document(path)
        except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
            raise OutputError(
                f"{relative} does not open as a PDF ({exc}); the run is not published"
            ) from None
        if not pages:
            raise OutputError(f"{relative} has no pages; the run is not published")
        if recorded != expected.get(relative):
            raise OutputError(
                f"{relative} records {recorded!r}, not {expected.get(relative)!r} (the document "
                "its name promises); the run is not published"
            )


def _check_attachments(staging: Path, mails: Sequence[Outgoing]) -> None:
    """Every attachment is the document its message is about, checked before anything is sent."""
    for mail in mails:
        recorded = recorded_document(staging / mail.attachment)
        if recorded != mail.document:
            raise OutputError(
                f"{mail.attachment} records {recorded!r}, not {mail.document!r}: it would reach "
                f"{', '.join(mail.to)} by mistake; nothing is sent and the run is not published"
            )
