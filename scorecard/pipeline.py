"""One run of the job: extract -> scoring -> reports -> output, with config resolved once."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import tempfile
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
from scorecard.extract.source import open_engine, redact_url
from scorecard.extract.summaries import Window
from scorecard.output.email import Outgoing, send_all
from scorecard.output.files import publish_run_folder, sha256_of, write_bytes_atomic
from scorecard.output.tables import csv_bytes, json_bytes
from scorecard.reports.build import ReportInputs, render_reports, report_slugs
from scorecard.scoring.periods import Period, PeriodKind, periods_for
from scorecard.scoring.table import score_table

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


@dataclass
class RunResult:
    run_dir: Path
    exit_code: int
    problems: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


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
    """Staging folders of runs that were killed: never published, safe to delete under the lock."""
    for leftover in [*out_dir.glob(".*.staging-*"), *out_dir.glob(".*.previous")]:
        shutil.rmtree(leftover, ignore_errors=True)


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
    """The extract stage's view of the periods: what to read, and how to cut it."""
    return Window(tuple(periods))


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
            request.database_url, config.database.statement_timeout_seconds, read_only=True
        )
        periods = periods_for(request.as_of, request.period, request.history_periods)
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

        staging = Path(tempfile.mkdtemp(dir=request.out_dir, prefix=f".{final_dir.name}.staging-"))
        try:
            _write_tables(staging, table, data.data_quality, request.formats)
            wanted = [f for f in ("html", "pdf") if f in request.formats]
            if wanted:
                inputs = ReportInputs(
                    table=table, data=data, periods=periods, config=config, as_of=request.as_of
                )
                for relative, content in render_reports(
                    inputs, wanted, progress, tick=tick
                ).items():
                    write_bytes_atomic(staging / relative, content)
            # Checked before any email goes out: a broken PDF is never sent.
            _check_pdfs(staging, _expected_titles(table))
            emails: list[dict[str, Any]] = []
            if request.send:
                mails = outgoing_mail(table, data, request, periods[-1])
                progress(f"{'writing' if request.email_dry_run else 'sending'} {len(mails)} emails")
                emails = send_all(
                    mails,
                    config.email,
                    staging,
                    previous=_previous_emails(final_dir),
                    dry_run_dir=staging / "emails" if request.email_dry_run else None,
                )
                failed = [e for e in emails if e["status"] == "failed"]
                if failed:
                    problems.append(
                        f"{len(failed)} of {len(emails)} emails failed, first to "
                        f"{', '.join(failed[0]['to'])}: {failed[0]['error']}"
                    )
            exit_code = 1 if problems else 0
            manifest = _manifest(request, data, periods, staging, emails, exit_code, problems)
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
    )


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
    staging = Path(tempfile.mkdtemp(dir=request.out_dir, prefix=f".{final_dir.name}.staging-"))
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
    table: pl.DataFrame, data: Activity, request: RunRequest, current: Period
) -> list[Outgoing]:
    """The portfolio pack to the configured list; each vendor's scorecard to its manager_email."""
    suffix = ".pdf" if "pdf" in request.formats else ".html" if "html" in request.formats else None
    if suffix is None:
        raise ConfigError("--send needs pdf or html among the formats: there is nothing to attach")
    mails = []
    recipients = request.config.email.portfolio_recipients
    if recipients:
        mails.append(
            Outgoing(
                to=tuple(recipients),
                subject=f"Vendor performance review {current.label} (as of {request.as_of})",
                body=f"The vendor performance review pack for {current.label}, data as of "
                f"{request.as_of}, is attached.\n",
                attachment=Path(f"portfolio{suffix}"),
            )
        )
    slugs = report_slugs(table)
    managers = dict(data.vendors.select("vendor_id", "manager_email").drop_nulls().rows())
    contacts = request.config.email.vendor_contacts
    totals = table.filter((pl.col("process") == "ALL") & (pl.col("period") == current.label))
    for row in totals.sort("vendor_id").iter_rows(named=True):
        composite = row["composite_score"]
        score = "not scored" if composite is None else f"{composite:.0f} / 100"
        subject = f"Vendor scorecard {current.label}: {row['vendor_name']}"
        body = (
            f"{row['vendor_name']}: composite {score}, standing {row['standing']}, "
            f"{current.label} as of {request.as_of}. The scorecard is attached.\n"
        )
        slug = slugs[row["vendor_id"]]
        if manager := managers.get(row["vendor_id"]):
            mails.append(Outgoing((manager,), subject, body, Path("vendors") / f"{slug}{suffix}"))
        contact = contacts.get(row["vendor_id"])
        if contact and row["sourcing"] != "in_house":
            if not request.config.reports.vendor_facing:
                raise ConfigError(
                    "email.vendor_contacts needs reports.vendor_facing = true: "
                    "only the vendor-facing scorecard may go to a vendor"
                )
            facing = Path("vendor-facing") / f"{slug}{suffix}"
            mails.append(Outgoing((contact,), subject, body, facing))
    return mails


def _write_tables(
    staging: Path, table: pl.DataFrame, data_quality: pl.DataFrame, formats: tuple[str, ...]
) -> None:
    if "csv" in formats:
        write_bytes_atomic(staging / "scores.csv", csv_bytes(table))
    if "json" in formats:
        write_bytes_atomic(staging / "scores.json", json_bytes(table))
    # Always written: a run must say what it rejected, whatever the formats.
    write_bytes_atomic(staging / "data_quality.csv", csv_bytes(data_quality))


def _expected_titles(table: pl.DataFrame) -> dict[str, str]:
    """The name each PDF must show on its first page."""
    names = dict(table.select("vendor_id", "vendor_name").unique().rows())
    expected = {"portfolio.pdf": "Vendor performance review"}
    for vendor_id, slug in report_slugs(table).items():
        for folder in ("vendors", "vendor-facing"):
            expected[f"{folder}/{slug}.pdf"] = names[vendor_id]
    return expected


def _check_not_empty(manifest: dict[str, Any]) -> None:
    """Never report success over an empty file."""
    for artifact in manifest["artifacts"]:
        if artifact["bytes"] == 0:
            raise OutputError(f"{artifact['path']} came out empty; the run is not published")


def _check_pdfs(staging: Path, titles: dict[str, str]) -> None:
    """Each PDF opens, has pages and names its vendor (or the pack's title) on page one."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    for pdf in sorted(staging.rglob("*.pdf")):
        relative = pdf.relative_to(staging).as_posix()
        try:
            reader = PdfReader(pdf)
            first_page = " ".join(reader.pages[0].extract_text().split()) if reader.pages else ""
        except (PdfReadError, OSError, ValueError) as exc:
            raise OutputError(
                f"{relative} does not open as a PDF ({exc}); the run is not published"
            ) from None
        if not reader.pages:
            raise OutputError(f"{relative} has no pages; the run is not published")
        if titles.get(relative, "") not in first_page:
            raise OutputError(
                f"{relative} does not name {titles[relative]!r} on its first page; the run is not published"
            )
