"""The public API: `load_config`, `run` and `check`, which the `scorecard` command, the tests and
the benchmarks all call.

    import scorecard

    config = scorecard.load_config("scorecard.toml", period="month", formats=["pdf", "csv"])
    result = scorecard.run(config, as_of=datetime.date(2026, 9, 30))
    print(result.run_dir, result.exit_code, result.problems)

The config is resolved once (the file, then the overrides) and every stage reads that one
object. Every usage error is raised as a ConfigError before the database is touched. The
stages are imported inside the functions: `scorecard --help` and `check` stay light.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorecard.config import FORMATS, Config, discover_config, resolve_database_url
from scorecard.errors import ConfigError, StaleDataError, nearest
from scoring.catalogue import check_config

if TYPE_CHECKING:
    from extract.activity import Activity
    from extract.checks import Finding
    from output.email import Delivery
    from output.run_folder import RunFolder
    from reports.build import FailedDocument, RenderStats, ReportInputs
    from scoring.periods import Period
    from scoring.scored import Scored

Progress = Callable[[str], None]
Tick = Callable[[int, int], None]

EARLIEST_DAY = dt.date(1900, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    """OUT/<as-of>/, published."""
    exit_code: int
    """0 all done; 1 finished, but something failed or was rejected beyond the limit."""
    problems: list[str] = field(default_factory=list)
    """Why the exit code is 1, one line each."""
    notices: list[str] = field(default_factory=list)
    """What the reader should know but is not a failure (an email sent without its attachment)."""
    artifacts: list[str] = field(default_factory=list)
    """Every file of the run folder, relative to it, manifest.json last."""
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Rows read, accepted and rejected per table, as manifest.json's `tables`."""


@dataclass(frozen=True)
class CheckResult:
    findings: list[Finding]
    """One line per check, in the order they ran."""

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings)


@dataclass(frozen=True)
class RunOptions:
    """What one run is asked to do beyond the config, checked before anything is read."""

    database_url: str
    as_of: dt.date
    send: bool = False
    email_dry_run: bool = False
    vendors: tuple[str, ...] = ()
    portfolio: bool = True
    resend: bool = False

    @property
    def selection(self) -> dict[str, Any] | None:
        """The manifest's record of a run for some vendors (--vendor); None for a whole run."""
        return (
            {"vendors": list(self.vendors), "portfolio": self.portfolio} if self.vendors else None
        )


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    period: str | None = None,
    formats: str | Sequence[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    scorecards: str | None = None,
    named_by: str = "load_config(path)",
) -> Config:
    """The validated config with the overrides applied: the one object every stage reads.

    path: the TOML file; None finds it as the command does ($SCORECARD_CONFIG, else
    ./scorecard.toml, else the built-in defaults). period, formats ("pdf,csv" or a list) and
    output_dir replace run.period, run.formats and run.output_dir; scorecards (all, active,
    ranked, none) replaces run.scorecards. Source queries are checked
    to be one reading SELECT here, before any database is known. named_by: how the path was
    given, for the log's first line (the command passes "--config").
    """
    config = discover_config(path, named_by).with_overrides(
        period=period,
        formats=None if formats is None else parse_formats(formats),
        output_dir=None if output_dir is None else os.fspath(output_dir),
        scorecards=scorecards,
    )
    _check_source_queries(config)
    check_config(config)
    return config


def run(
    config: Config,
    *,
    database_url: str | None = None,
    as_of: dt.date | None = None,
    send: bool = False,
    email_dry_run: bool = False,
    vendors: Sequence[str] = (),
    portfolio: bool = True,
    resend: bool = False,
    progress: Progress = lambda _: None,
    tick: Tick = lambda done, total: None,
) -> RunResult:
    """Extract, score, render and write one run folder OUT/<as-of>/; email it with send.

    database_url: else $SCORECARD_DATABASE_URL, else the config. as_of: the last day
    included (default yesterday, UTC). email_dry_run: write each message as an .eml file
    under emails/ instead of sending it. vendors: only these vendors' scorecards (the others
    stay as the day's last run wrote them); portfolio: with vendors, the pack too; resend:
    with vendors, send their messages again even when the same ones went out.
    """
    from output.email import Delivery, with_earlier_emails
    from output.manifest import run_manifest
    from output.run_folder import RunFolder
    from output.tables import run_tables
    from reports.build import ReportInputs, expected_documents, unscored_vendors

    options = run_options(config, database_url, as_of, send, email_dry_run, vendors, portfolio, resend)  # fmt: skip
    progress(config.origin)
    with RunFolder.locked(Path(config.run.output_dir), options.as_of) as folder:
        _stale_data_gate(config, options, progress)
        periods, data, scored = _scored(config, options, progress)
        record = partial(run_manifest, config, options.database_url, options.as_of, periods, data)
        if scored.table.is_empty():
            return _publish_unscored(folder, record, options, config, periods, data)
        _check_selection(options.vendors, scored.vendor_ids, unscored_vendors(scored.table))
        night = _night(folder, config, options, periods, data, scored)
        restated = () if night is None else night.restated_inputs
        inputs = ReportInputs(scored.table, data, periods, config, options.as_of, scored.credits,
                              restated)  # fmt: skip
        expected = expected_documents(scored.table, config.run.scorecards)
        if options.vendors:
            folder.carry_over(expected)  # the other vendors' documents, as the last run wrote them
        tables = run_tables(scored.table, data.data_quality, config.run.formats, scored.credits,
                            config.currency.base)  # fmt: skip
        folder.write_all(tables)
        rendered, pdfs = _render(inputs, options, folder, progress, tick)
        # A document that failed to render is left out: neither expected nor sent (issue 27.7).
        left_out = {path for failed in rendered.failed for path in failed.paths}
        folder.discard(sorted(left_out))  # not even the day's earlier copy, carried over
        folder.verify_documents({p: k for p, k in expected.items() if p not in left_out})
        delivery = Delivery([], [], [])
        if options.send and (night is None or not night.plan.empty):
            delivery = _send(inputs, options, folder, progress, night, rendered.failed)
        elif options.send and night is not None:
            progress(night.plan.why)
        emails = delivery.emails
        if options.vendors:  # the record keeps every other message the day's runs sent
            emails = with_earlier_emails(emails, folder.earlier_emails)
        notices = delivery.notices + ([] if night is None else night.notices)
        problems = scored.problems + [failed.line() for failed in rendered.failed]
        manifest = record(folder.artifacts(), emails, problems + delivery.problems,
                          notices, options.selection, pdfs)  # fmt: skip
        folder.publish(manifest)
        if night is not None:
            owed = night.owed(rendered.failed) if options.send else night.ledger.owed()
            night.record(delivery.emails, manifest["exit_code"], progress, owed)
        return _result(folder.final, manifest)


def _render(
    inputs: ReportInputs, options: RunOptions, folder: RunFolder, progress: Progress, tick: Tick
) -> tuple[RenderStats, dict[str, dict[str, str]]]:
    """The run's documents into the folder (unchanged PDFs reused from the last run), what the
    render came to, and the manifest's record of every PDF."""
    from output.run_folder import reusable_pdfs
    from reports.build import RenderStats, render_reports

    rendered = RenderStats()
    documents = [f for f in ("html", "pdf") if f in inputs.config.run.formats]
    if not documents:
        return rendered, {}
    earlier = reusable_pdfs(folder.out_dir, options.as_of)
    render_reports(inputs, documents, progress, rendered, tick=tick, sink=folder.write,
                   vendors=options.vendors or None, portfolio=options.portfolio,
                   previous=earlier, link=folder.link)  # fmt: skip
    return rendered, _carried_pdfs(folder, earlier, rendered)


def _carried_pdfs(
    folder: RunFolder, earlier: dict[str, Any], rendered: RenderStats
) -> dict[str, dict[str, str]]:
    """manifest.json's documents: the PDFs made or reused tonight, and those a run of some
    vendors carried over from the day's last run (so the next run can reuse them too)."""
    pdfs = dict(rendered.pdfs)
    for path, pdf in earlier.items():
        if (
            path not in pdfs
            and pdf.run_day == folder.final.name
            and (folder.staging / path).is_file()
        ):
            pdfs[path] = {
                "rendered_as_of": pdf.rendered_as_of,
                "digest": pdf.digest,
                "reused_from": pdf.run_day,
            }
    return pdfs


def _stale_data_gate(config: Config, options: RunOptions, progress: Progress) -> None:
    """Contract section 11: a broken feed fails the run before anything is read, published or
    sent (StaleDataError, exit 1); `latest` stays where it was."""
    from extract.activity import received_span

    limit = config.run.data_age_limit_hours
    if limit is None:
        return
    span = received_span(options.database_url, config)
    if span is None:
        return  # no work items at all: the run says "nothing to score"
    if line := stale_data_line(span[1], options.as_of, limit):
        raise StaleDataError(line)
    progress(f"data fresh: newest work item received {span[1]:%Y-%m-%d %H:%M}")


def stale_data_line(newest: dt.datetime, as_of: dt.date, limit_hours: float) -> str | None:
    """The one line of a stale feed, or None: the newest work item's age at the end of the
    as-of day against run.max_data_age_hours."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    age = (end - newest.replace(tzinfo=None)).total_seconds() / 3600
    if age <= limit_hours:
        return None
    return (
        f"stale data: the newest work_items.received_at is {newest:%Y-%m-%d %H:%M}, {age:,.0f} h "
        f"before the end of the as-of day {as_of} (run.max_data_age_hours = {limit_hours:g}); "
        "nothing is published or sent: fix the feed, or run with --as-of the last day it covers"
    )


@dataclass
class _Night:
    """A whole run's place in the ledger: what it restates, which messages it owes, and the
    line it adds once published (contract section 11)."""

    folder: RunFolder
    config: Config
    options: RunOptions
    periods: list[Period]
    scored: Scored
    ledger: Any
    facts: Any
    restated: list[Any]
    plan: Any
    method: str

    @property
    def restated_inputs(self) -> tuple[tuple[str, str, str], ...]:
        return tuple((r.period, r.vendor_id, r.reason) for r in self.restated)

    @property
    def notices(self) -> list[str]:
        found = [f"{r.period} {r.vendor_id} {r.note}" for r in self.restated[:3]]
        if len(self.restated) > 3:
            found.append(f"and {len(self.restated) - 3} more restated figures (see ledger.jsonl)")
        if self.options.send and self.plan.empty:
            found.append(self.plan.why)
        return found

    def owed(self, failed: Sequence[FailedDocument]) -> dict[str, str]:
        """The messages planned tonight (or owed by an earlier night) whose document was not
        rendered: message key -> the subject's note, for the next night to send."""
        from output.ledger import PORTFOLIO

        left_out = {PORTFOLIO if f.vendor_id is None else f.vendor_id for f in failed}
        planned = self.plan.notes if not self.plan.empty else {}
        return {key: note for key, note in planned.items() if key in left_out}

    def record(
        self,
        emails: list[dict[str, Any]],
        exit_code: int,
        progress: Progress,
        owed: dict[str, str] | None = None,
    ) -> None:
        from output.email import read_journal
        from output.ledger import PORTFOLIO, ledger_line, prune, vendor_of_message

        by_attachment = self._message_keys()
        sent = {}
        for e in emails:
            key = by_attachment.get(e.get("attachment", ""))
            if key is not None and e.get("status") in ("sent", "already sent", "dry run"):
                sent[key] = self.facts.fingerprints.get(key, "")
        # What a night stopped while it sent handed over went to its recipients: the news is told.
        for handed in self.plan.handed_over:
            key = vendor_of_message(handed)
            if key is not None and key in self.facts.fingerprints:
                sent.setdefault(key, self.facts.fingerprints[key])
        sent = {k: v for k, v in sent.items() if k == PORTFOLIO or v}
        self.ledger.append(ledger_line(self.options.as_of, self.config, self.periods,
                                       self.scored.table, self.facts, self.ledger, self.restated,
                                       sent, exit_code, owed))  # fmt: skip
        out = self.folder.out_dir
        in_doubt = [
            path
            for path in out.glob("*.emails.jsonl")
            if any(e.get("event") == "data" for e in read_journal(path).values())
        ]
        newest = max(self.ledger.newest_as_of or self.options.as_of, self.options.as_of)
        settings = self.config.output
        if removed := prune(out, self.ledger, newest, settings.keep_days,
                            settings.keep_closed_periods, in_doubt, self.options.as_of):  # fmt: skip
            progress(f"retention: removed {len(removed)} old run folders and journals")

    def _message_keys(self) -> dict[str, str]:
        """An attachment's path -> its message key in the ledger (vendor ID, "" for the pack)."""
        from reports.build import report_slugs

        slugs = report_slugs(self.scored.table)
        keys: dict[str, str] = {}
        for suffix in (".pdf", ".html"):
            keys[f"portfolio{suffix}"] = ""
            for vendor_id, slug in slugs.items():
                keys[f"vendors/{slug}{suffix}"] = vendor_id
                keys[f"vendor-facing/{slug}{suffix}"] = vendor_id
        return keys


def _night(
    folder: RunFolder,
    config: Config,
    options: RunOptions,
    periods: list[Period],
    data: Activity,
    scored: Scored,
) -> _Night | None:
    """None for a run of some vendors (--vendor): it re-renders, it is not a night."""
    if options.vendors:
        return None
    from output.ledger import (
        Ledger,
        closed_periods,
        method_config,
        method_digest,
        night_facts,
        plan_messages,
        restatements,
    )
    from reports.build import control_charts_by_vendor
    from scoring.catalogue import catalogue

    ledger = Ledger(folder.out_dir)
    method_now = method_config(config)
    method = method_digest(method_now)
    # The charts the reports draw, declared rates included: an alert is never about a signal
    # the scorecard does not show, nor silent about one it does.
    signals = {
        vendor_id: [
            f"{s.measure}|{s.kind}|{s.first_month}|{s.last_month}"
            for chart in charts
            for s in chart.signals
        ]
        for vendor_id, charts in control_charts_by_vendor(data, catalogue(config)).items()
    }
    levels = scored.credits.levels if scored.credits is not None else None
    facts = night_facts(scored.table, periods, data.vendors, signals, levels)
    closed = closed_periods(periods, config)
    restated = restatements(ledger, scored.table, closed, method, method_now, options.as_of)
    plan = plan_messages(ledger, config, options.as_of, periods, facts, method, options.resend)
    return _Night(folder, config, options, periods, scored, ledger, facts, restated, plan, method)


def _publish_unscored(
    folder: RunFolder,
    record: Callable[..., dict[str, Any]],
    options: RunOptions,
    config: Config,
    periods: list[Period],
    data: Activity,
) -> RunResult:
    """Nothing to score: exit 1 with data_quality.csv, the manifest and one line saying why.
    `latest` keeps pointing at the last run that has reports."""
    from extract.activity import received_span
    from output.tables import csv_bytes
    from scoring.scored import why_nothing_to_score

    why = why_nothing_to_score(data, periods, received_span(options.database_url, config))
    if folder.has_reports():
        # A rerun on an empty source never replaces the day's published reports (issue 27.6).
        return RunResult(
            folder.final, 1, [why, f"the day's published run in {folder.final} is kept"]
        )
    folder.write("data_quality.csv", csv_bytes(data.data_quality))
    manifest = record(folder.artifacts(), [], [why])
    folder.publish(manifest, point_latest=False)
    return _result(folder.final, manifest)


def _send(
    inputs: ReportInputs,
    options: RunOptions,
    folder: RunFolder,
    progress: Progress,
    night: _Night | None = None,
    failed: Sequence[FailedDocument] = (),
) -> Delivery:
    """The run's messages, each attachment checked against its message, then sent (or, as a dry
    run, written as .eml files); the journal makes sure none goes twice. A message whose
    document failed to render is not sent (the next run sends it)."""
    from output.email import deliver_messages, delivery_key
    from reports.messages import attachment_suffix, run_messages, vendors_without_manager
    from reports.view import document_key

    notes = None if night is None else night.plan.notes
    left_out = {path for f in failed for path in f.paths}

    def size_of(path: Path) -> int:  # a document left out is no attachment: its message goes
        return 0 if path.as_posix() in left_out else folder.size_of(path)

    messages = run_messages(inputs, attachment_suffix(inputs.config.run.formats) or "",
                            size_of, folder.final, options.vendors, options.portfolio,
                            notes=notes)  # fmt: skip
    unrendered = {document_key(f.vendor_id) for f in failed}
    if held := [m for m in messages if m.document in unrendered]:
        progress(f"not sending {len(held)} emails whose document was not rendered")
        messages = [m for m in messages if m.document not in unrendered]
    handed_over = night.plan.handed_over if night is not None else frozenset()
    if handed := [m for m in messages if delivery_key(m) in handed_over]:
        progress(f"not sending {len(handed)} emails a stopped night already handed over")
        messages = [m for m in messages if delivery_key(m) not in handed_over]
    if night is not None:
        progress(f"emails tonight: {night.plan.why}")
    folder.check_attachments(messages)
    progress(f"{'writing' if options.email_dry_run else 'sending'} {len(messages)} emails")
    delivery = deliver_messages(messages, inputs.config.email, folder.staging, folder.earlier_emails,
                                folder.email_journal, options.as_of, dry_run=options.email_dry_run,
                                resend=options.resend and bool(options.vendors))  # fmt: skip
    if unaddressed := vendors_without_manager(inputs, options.vendors):
        named = ", ".join(unaddressed[:5]) + (f" and {len(unaddressed) - 5} more" if len(unaddressed) > 5 else "")  # fmt: skip
        notice = f"no one got the scorecard of {named} (no manager_email in vendors)"
        return dataclasses.replace(delivery, notices=[*delivery.notices, notice])
    return delivery


@dataclass(frozen=True)
class Scores:
    """A run's figures, before anything is rendered or written."""

    periods: list[Period]
    data: Activity
    """What the extract stage read and rejected."""
    scored: Scored
    """The score table, the service credits, and what the run says about them."""


def score(
    config: Config,
    *,
    database_url: str | None = None,
    as_of: dt.date | None = None,
    progress: Progress = lambda _: None,
) -> Scores:
    """Extract and score as `run` does, and stop there: nothing is rendered or written."""
    options = run_options(config, database_url, as_of)
    progress(config.origin)
    periods, data, scored = _scored(config, options, progress)
    return Scores(periods, data, scored)


def _scored(
    config: Config, options: RunOptions, progress: Progress
) -> tuple[list[Period], Activity, Scored]:
    from extract.activity import read_activity
    from scoring.evidence import wanted_evidence
    from scoring.periods import periods_for, window_of
    from scoring.scored import score

    periods = periods_for(options.as_of, config.run.period, config.run.history_periods,
                          config.run.fiscal_year_start_month)  # fmt: skip
    started = time.perf_counter()
    # The items behind each missed level are read in the sums' transaction (contract section 12).
    wanted = partial(wanted_evidence, periods=periods, config=config) if config.contracts else None
    data = read_activity(
        options.database_url,
        config,
        window_of(periods, config.scoring.median_turnaround),
        progress,
        wanted,
    )
    scored = score(data, periods, config)
    _log_scored(progress, data, scored, len(periods), time.perf_counter() - started)
    return periods, data, scored


def check(
    config: Config,
    *,
    database_url: str | None = None,
    max_age_hours: float | None = None,
    now: dt.datetime | None = None,
) -> CheckResult:
    """Config, database, schema and data freshness, without rendering anything; with
    max_age_hours, also whether the last successful run in run.output_dir is recent enough.

    A source that cannot be read raises SourceError, as the run would (exit 3).
    """
    from extract.checks import check_source
    from output.run_folder import check_last_run

    url = resolve_database_url(database_url, config)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    findings = check_source(url, now, config)
    if (limit := config.run.data_age_limit_hours) is not None and (
        found := _data_age_finding(url, config, now, limit)
    ):
        findings.append(found)
    if max_age_hours is not None:
        findings.append(check_last_run(Path(config.run.output_dir), max_age_hours, now))
    return CheckResult(findings)


def _data_age_finding(url: str, config: Config, now: dt.datetime, limit: float) -> Finding | None:
    """The stale-data gate as tonight's run (as of yesterday) would apply it; None without work
    items (check already says there is nothing to score)."""
    from extract.activity import received_span
    from extract.checks import Finding

    span = received_span(url, config)
    if span is None:
        return None
    as_of = now.date() - dt.timedelta(days=1)
    line = stale_data_line(span[1], as_of, limit)
    if line is not None:
        return Finding(False, line)
    return Finding(
        True,
        f"data age: newest work_items.received_at {span[1]:%Y-%m-%d %H:%M}, within "
        f"run.max_data_age_hours = {limit:g} of the end of {as_of}",
    )


def run_options(
    config: Config,
    database_url: str | None = None,
    as_of: dt.date | None = None,
    send: bool = False,
    email_dry_run: bool = False,
    vendors: Sequence[str] = (),
    portfolio: bool = True,
    resend: bool = False,
) -> RunOptions:
    """Every usage error of a run, found before the database is touched (ConfigError, exit 2)."""
    from reports.messages import attachment_suffix
    from scoring.periods import default_as_of

    send = send or email_dry_run
    if not portfolio and not vendors:
        raise ConfigError("--no-portfolio goes with --vendor ID (the scorecards to render again)")
    if resend and not vendors and not send:
        raise ConfigError(
            "--resend goes with --send (a backfill's emails) or --vendor ID (the scorecards "
            "to render again)"
        )
    if send and attachment_suffix(config.run.formats) is None:
        raise ConfigError("--send needs pdf or html among the formats: there is nothing to attach")
    if send and config.email.vendor_contacts and not config.reports.vendor_facing:
        raise ConfigError(
            "email.vendor_contacts needs reports.vendor_facing = true: "
            "only the vendor-facing scorecard may go to a vendor"
        )
    if as_of is not None:
        within_dated_range(as_of, "--as-of")
    return RunOptions(
        database_url=resolve_database_url(database_url, config),
        as_of=as_of or default_as_of(),
        send=send,
        email_dry_run=email_dry_run,
        vendors=tuple(dict.fromkeys(vendors)),
        portfolio=portfolio,
        resend=resend,
    )


def within_dated_range(day: dt.date, option: str) -> dt.date:
    """The day itself, when its periods can be dated: they and their windows reach past it, and
    near year 9999 they cannot be."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ConfigError(f"{option}: {day} is outside {EARLIEST_DAY} to {LATEST_DAY}")
    return day


def parse_formats(value: str | Sequence[str]) -> tuple[str, ...]:
    """ "pdf,csv" or ["pdf", "csv"] as the formats in their canonical order."""
    given = value.split(",") if isinstance(value, str) else list(value)
    formats = tuple(f.strip().lower() for f in given if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(
            f"--format: {', '.join(unknown) or 'nothing'} is not one of {','.join(FORMATS)}"
        )
    return tuple(f for f in FORMATS if f in formats)


def _check_source_queries(config: Config) -> None:
    """Each source query is one SELECT that can only read, parsed as generic SQL; the run parses
    it again in the database's own dialect (extract/readonly.py)."""
    queries = {name: spec.query for name, spec in config.source.items() if spec.query}
    if not queries:
        return  # sqlglot takes a tenth of a second to import: not for a config without queries
    from extract.readonly import NotReadOnly, ensure_read_only_query

    for name, sql in queries.items():
        try:
            ensure_read_only_query(sql)
        except NotReadOnly as exc:
            raise ConfigError(f"{config.source_path}: source.{name}.query: {exc}") from None


def _check_selection(
    selected: Sequence[str], vendor_ids: Sequence[str], unscored: Sequence[str]
) -> None:
    """--vendor names vendors of the data that have a scorecard to render again."""
    unknown = sorted(set(selected) - set(vendor_ids))
    if unknown:
        close = nearest(unknown[0], vendor_ids)
        raise ConfigError(
            f"--vendor {', '.join(unknown)}: no vendor with that ID in the data "
            "(IDs are matched exactly, as in scores.csv's vendor_id)"
            + (f"; did you mean {close}?" if close else "")
        )
    if nothing := sorted(set(selected) & set(unscored)):
        raise ConfigError(
            f"--vendor {', '.join(nothing)}: nothing scored in any period of this run, so no "
            "scorecard (the portfolio pack lists it under 'Not scored in any period')"
        )


def _log_scored(
    progress: Progress, data: Activity, scored: Scored, periods: int, seconds: float
) -> None:
    from reports.build import unscored_vendors

    progress(
        "validated: "
        + ", ".join(f"{n} {c.accepted}/{c.read}" for n, c in data.counts.items())
        + " rows accepted"
    )
    if not scored.table.is_empty():
        progress(
            f"scored {scored.table.height} rows over {periods} periods "
            f"(extract and score: {seconds:.2f} s)"
        )
        for warning in scored.warnings:
            progress(warning)
        if unscored := unscored_vendors(scored.table):
            noun = "vendor" if len(unscored) == 1 else "vendors"
            progress(
                f"{len(unscored)} {noun} not scored in any period: listed in the pack, no scorecard"
            )


def _result(run_dir: Path, manifest: dict[str, Any]) -> RunResult:
    """What the caller learns of a published run: the manifest's own record of it."""
    return RunResult(
        run_dir=run_dir,
        exit_code=manifest["exit_code"],
        problems=manifest["problems"],
        notices=manifest["notices"],
        artifacts=[a["path"] for a in manifest["artifacts"]] + ["manifest.json"],
        counts=manifest["tables"],
    )
