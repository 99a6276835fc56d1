"""The `scorecard` command: resolves config once, calls the stages, maps errors to exit codes.

Exit codes (contract section 5): 0 all done; 1 finished but something failed
or was rejected beyond the limit; 2 usage or config error; 3 the data source
cannot be read; 4 another run holds the lock.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from scorecard import __version__, api
from scorecard.config import (
    CONFIG_ENV,
    CONFIG_FILE_NAME,
    DATABASE_URL_ENV,
    resolve_database_url,
)
from scorecard.errors import ConfigError, ScorecardError
from scorecard.log import FORMAT_CHOICES, RunLog, route_library_logs

if TYPE_CHECKING:
    from scorecard.api import RunResult

F = TypeVar("F", bound=Callable[..., Any])
EXIT_MEANING = {
    0: "all done",
    1: "finished, but something failed or was rejected beyond the limit",
    2: "usage or config error",
    3: "the data source cannot be read",
    4: "another run holds the lock",
}

# The log of the command being run; --log-format replaces it before any work starts.
_log = RunLog("text")


def _fails_cleanly(command: F) -> F:
    """Turn a ScorecardError into one line on stderr and its exit code; anything else keeps its traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Every command starts from its own log format, never the one a previous command chose.
        _use_log(kwargs.get("log_format") or os.environ.get("SCORECARD_LOG_FORMAT", "auto"))
        try:
            return command(*args, **kwargs)
        except ScorecardError as error:
            _log.error(str(error), error.exit_code)
            sys.exit(error.exit_code)
        except OSError as error:
            # The file system refused (read-only or full disk, permissions): not a bug, exit 1.
            where = f"{error.filename}: " if error.filename else ""
            _log.error(f"cannot write or read {where}{error.strerror or error}", 1)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class _OneLineErrors(click.Group):
    """click's own usage errors (unknown option, bad choice) as one line, JSON in JSON mode."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            outcome = super().main(*args, **kwargs)
        except click.ClickException as error:
            log = RunLog.choose(os.environ.get("SCORECARD_LOG_FORMAT", "auto"))
            context = getattr(error, "ctx", None)
            hint = f" (see {context.command_path} --help)" if context is not None else ""
            log.error(" ".join(f"{error.format_message()}{hint}".split()), error.exit_code)
            sys.exit(error.exit_code)
        except click.Abort:
            sys.exit(1)
        sys.exit(outcome if isinstance(outcome, int) else 0)


def _use_log(choice: str) -> None:
    global _log
    _log = RunLog.choose(choice)
    route_library_logs(_log)


def _progress(message: str) -> None:
    _log.info(message)


log_format_option = click.option(
    "--log-format",
    type=click.Choice(FORMAT_CHOICES),
    default="auto",
    envvar="SCORECARD_LOG_FORMAT",
    show_default=True,
    help="text lines (with a progress bar), JSON lines, or auto: text on a terminal, else JSON.",
)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help=f"TOML config file. Default: the file ${CONFIG_ENV} names, else ./{CONFIG_FILE_NAME}, "
    "else built-in defaults.",
)


out_option = click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output folder. Default: run.output_dir in the config, else ./out.",
)


def _parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as error:
        # "2026-02-30" has the right form: say what is wrong with it, not that the form is.
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ConfigError(
                f"{option}: {value!r} is not a day of the calendar ({error})"
            ) from None
        raise ConfigError(f"{option}: {value!r} is not a date in the form YYYY-MM-DD") from None
    return api.within_dated_range(day, option)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scorecard")
def cli() -> None:
    """Scorecards for outsourcing vendors: accuracy, speed, cost and responsiveness."""


@cli.command()
@config_option
@click.option(
    "--database-url", help="SQLAlchemy URL; else SCORECARD_DATABASE_URL, else the config."
)
@click.option("--as-of", help="Last day included, YYYY-MM-DD. Default: yesterday (UTC).")
@click.option(
    "--period",
    type=click.Choice(["month", "quarter"]),
    help="Period length. Default: run.period in the config, else quarter.",
)
@out_option
@click.option(
    "--format",
    "formats",
    help="Comma-separated: pdf,html,csv,json. Default: run.formats in the config, else all four.",
)
@click.option("--send", is_flag=True, help="Email the reports as configured in [email].")
@click.option(
    "--email-dry-run", is_flag=True, help="With --send: write .eml files under emails/ instead."
)
@click.option(
    "--vendor",
    "vendors",
    multiple=True,
    help="Render (and with --send, email) only this vendor's scorecards, by vendor ID; "
    "repeatable. The other vendors' documents stay as the last run wrote them.",
)
@click.option(
    "--no-portfolio", is_flag=True, help="With --vendor: leave the portfolio pack as it is."
)
@click.option(
    "--scorecards",
    type=click.Choice(["all", "active", "ranked", "none"]),
    help="Which vendors get a scorecard: all scored ones, active ones (activity this period), "
    "ranked ones, or none (the portfolio pack alone). Default: run.scorecards, else all.",
)
@click.option(
    "--resend",
    is_flag=True,
    help="With --vendor and --send: send their messages again even if the same ones went out. "
    "With --send alone: a backfill (an as-of day before the newest run) sends its emails, "
    "each subject naming its as-of day.",
)
@log_format_option
@_fails_cleanly
def run(
    config_path: str | None,
    database_url: str | None,
    as_of: str | None,
    period: str | None,
    out_dir: str | None,
    formats: str | None,
    send: bool,
    email_dry_run: bool,
    vendors: tuple[str, ...],
    no_portfolio: bool,
    scorecards: str | None,
    resend: bool,
    log_format: str,
) -> None:
    """Extract, score, render and write one run folder OUT/<as-of>/."""
    # The options become the config (overrides applied once); every usage error is raised
    # before the database is touched.
    config = api.load_config(
        config_path,
        period=period,
        formats=formats,
        output_dir=out_dir,
        scorecards=scorecards,
        named_by="--config",
    )
    _run_and_report(
        config,
        database_url=database_url,
        as_of=_parse_date(as_of, "--as-of"),
        send=send,
        email_dry_run=email_dry_run,
        vendors=vendors,
        portfolio=not no_portfolio,
        resend=resend,
    )


def _run_and_report(config: Any, **options: Any) -> None:
    started = time.monotonic()
    result: RunResult = api.run(config, progress=_progress, tick=_log.tick, **options)
    for problem in result.problems:
        _log.problem(problem)
    for notice in result.notices:
        _log.info(f"notice: {notice}")
    rows = ", ".join(
        f"{name} not tracked"
        if c.get("absent")
        else f"{name} {c['rows_accepted']}/{c['rows_read']}"
        for name, c in result.counts.items()
    )
    seconds = time.monotonic() - started
    text = (
        f"{result.run_dir}: {len(result.artifacts)} files in {seconds:.1f} s; "
        f"rows accepted {rows}; "
        + "".join(f"{notice.split(' (')[0]}; " for notice in result.notices)
        + f"exit {result.exit_code} ({EXIT_MEANING[result.exit_code]})"
    )
    click.echo(
        _log.summary(
            text,
            run_dir=str(result.run_dir),
            files=len(result.artifacts),
            seconds=round(seconds, 1),
            tables=result.counts,
            exit_code=result.exit_code,
            meaning=EXIT_MEANING[result.exit_code],
        )
    )
    sys.exit(result.exit_code)


@cli.command()
@config_option
@click.option(
    "--database-url", help="SQLAlchemy URL; else SCORECARD_DATABASE_URL, else the config."
)
@out_option
@click.option(
    "--max-age",
    type=click.FloatRange(min=0),
    help="Fail when the last successful run is older (hours).",
)
@log_format_option
@_fails_cleanly
def check(
    config_path: str | None,
    database_url: str | None,
    out_dir: str | None,
    max_age: float | None,
    log_format: str,
) -> None:
    """Check config, database, schema and data freshness without rendering; exit 1 if a check fails."""
    config = api.load_config(config_path, output_dir=out_dir, named_by="--config")
    _echo_finding("ok", f"{config.origin}: valid")
    findings = api.check(config, database_url=database_url, max_age_hours=max_age).findings
    for finding in findings:
        _echo_finding(
            "FAIL" if not finding.ok else "warn" if finding.warning else "ok", finding.text
        )
    failed = [f for f in findings if not f.ok]
    if failed:
        if _log.format == "json":
            _log.error(f"check failed: {failed[0].text}", 1)
        else:
            click.echo(f"scorecard: check failed: {failed[0].text}", err=True)
        sys.exit(1)


def _echo_finding(status: str, text: str) -> None:
    """One line per check on stdout: `ok    ...` as text, {"status": ..., "check": ...} as JSON."""
    if _log.format == "json":
        click.echo(json.dumps({"status": status.lower(), "check": text}, ensure_ascii=False))
    else:
        click.echo(f"{status:<4}  {text}")


@cli.command()
@click.option(
    "--path",
    type=click.Path(dir_okay=False),
    default=CONFIG_FILE_NAME,
    show_default=True,
    help="Where to write the starter config.",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
@_fails_cleanly
def init(path: str, force: bool) -> None:
    """Write a starter config to fill in for your own data (the run finds ./scorecard.toml).

    Only what every company sets is in force; each optional block is there, commented. The
    demo's config, every block filled in, is scorecard/example-config.toml in the package.
    """
    from importlib import resources

    target = Path(path)
    if target.exists() and not force:
        raise ConfigError(f"{target} exists already; edit it, or pass --force to replace it")
    starter = resources.files("scorecard").joinpath("starter-config.toml").read_bytes()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(starter)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(
        f"wrote {target}: a starter config. Set {DATABASE_URL_ENV} to your database's URL, "
        "uncomment the optional blocks you need, then run `scorecard check`"
    )


@cli.command("init-db")
@click.option("--database-url", help="SQLAlchemy URL; else SCORECARD_DATABASE_URL.")
@_fails_cleanly
def init_db(database_url: str | None) -> None:
    """Create the four canonical tables (existing tables are left alone)."""
    from sqlalchemy.exc import SQLAlchemyError

    from extract.source import first_line, open_engine
    from scorecard.config import Config
    from scorecard.errors import SourceError
    from scorecard.schema import create_tables
    from scorecard.urls import redact_url

    url = resolve_database_url(database_url, Config())
    engine = open_engine(url)
    try:
        create_tables(engine)
    except SQLAlchemyError as exc:
        raise SourceError(
            f"cannot create the tables in {redact_url(url)}: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    finally:
        engine.dispose()
    click.echo(f"created the canonical tables in {redact_url(url)}")


@cli.command("load-csv")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--table", "table_name", required=True, help="The table to create.")
@click.option("--database-url", help="SQLAlchemy URL; else SCORECARD_DATABASE_URL.")
@click.option("--replace", is_flag=True, help="Drop and reload the table if it exists.")
@_fails_cleanly
def load_csv_command(
    csv_file: Path, table_name: str, database_url: str | None, replace: bool
) -> None:
    """Load a CSV export (.csv or .csv.gz) into a new table of text columns, as it is.

    Read it with a [source.*] mapping: formats, null values and value maps
    turn the text into the canonical columns inside the database.
    """
    from extract.source import redact_url
    from scorecard.config import Config
    from scorecard.load_csv import load_csv

    url = resolve_database_url(database_url, Config())
    rows = load_csv(url, csv_file, table_name, replace)
    click.echo(f"loaded {rows:,} rows of {csv_file.name} into {table_name} in {redact_url(url)}")


def _last_quarter_end(today: dt.date) -> dt.date:
    quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return quarter_start - dt.timedelta(days=1)


@cli.command("demo-data")
@click.option("--database-url", help="SQLAlchemy URL; else SCORECARD_DATABASE_URL.")
@click.option("--scale", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Multiplies the volume: 1 is about 110,000 work items, 90 about ten million.")  # fmt: skip
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Same seed and day, same data."
)
@click.option(
    "--through", help="Last day of data, YYYY-MM-DD (default: end of the last full quarter)."
)
@click.option(
    "--replace", is_flag=True, help="Drop and recreate canonical tables that already hold rows."
)
@click.option("--vendors", type=click.IntRange(min=1),
              help="That many outsourced vendors, cloned from the demo's nine (benchmarks at scale).")  # fmt: skip
@_fails_cleanly
def demo_data(
    database_url: str | None,
    scale: float,
    seed: int,
    through: str | None,
    replace: bool,
    vendors: int | None,
) -> None:
    """Fill a database with six quarters of a believable BPO world."""
    from sqlalchemy.exc import SQLAlchemyError

    from extract.source import first_line, open_engine
    from scorecard.config import Config
    from scorecard.demo_data import generate_demo_data
    from scorecard.errors import SourceError
    from scorecard.urls import redact_url

    url = resolve_database_url(database_url, Config())
    day = _parse_date(through, "--through") or _last_quarter_end(dt.date.today())
    engine = open_engine(url)
    try:
        counts = generate_demo_data(
            engine, day, scale=scale, seed=seed, replace=replace, vendors=vendors
        )
    except SQLAlchemyError as exc:
        raise SourceError(
            f"cannot write demo data to {redact_url(url)}: {first_line(exc)}"
        ) from None
    finally:
        engine.dispose()
    click.echo(
        f"demo data through {day} in {redact_url(url)}: "
        + ", ".join(f"{n} {c:,}" for n, c in counts.items())
    )


@cli.group()
def emails() -> None:
    """The email journal: list and settle the messages in doubt."""


def _emails_out_dir(config_path: str | None, out_dir: str | None) -> Path:
    return Path(api.load_config(config_path, output_dir=out_dir).run.output_dir)


@emails.command("in-doubt")
@config_option
@out_option
@log_format_option
@_fails_cleanly
def emails_in_doubt(config_path: str | None, out_dir: str | None, log_format: str) -> None:
    """List every message in doubt, from any night; exit 1 while there is one."""
    from output.email import messages_in_doubt

    folder = _emails_out_dir(config_path, out_dir)
    doubts = messages_in_doubt(folder)
    for doubt in doubts:
        _log.problem(doubt.line())
    click.echo(f"{len(doubts)} email{'' if len(doubts) == 1 else 's'} in doubt in {folder}")
    sys.exit(1 if doubts else 0)


@emails.command()
@click.argument("message")
@click.option("--delivered", is_flag=True, help="It arrived: it counts as sent, never goes again.")
@click.option(
    "--not-delivered", is_flag=True, help="It did not arrive: the next run with --send sends it."
)
@config_option
@out_option
@log_format_option
@_fails_cleanly
def settle(
    message: str,
    delivered: bool,
    not_delivered: bool,
    config_path: str | None,
    out_dir: str | None,
    log_format: str,
) -> None:
    """Settle MESSAGE (as a run names it: <as-of>/<id>), a message in doubt."""
    import fcntl

    from output.email import settle as settle_message
    from output.run_folder import LOCK_NAME
    from scorecard.errors import LockError

    if delivered == not_delivered:
        raise ConfigError(f"settle {message}: say what happened: --delivered or --not-delivered")
    folder = _emails_out_dir(config_path, out_dir)
    if not folder.is_dir():
        raise ConfigError(f"settle {message}: no output folder {folder}")
    with (folder / LOCK_NAME).open("a+") as lock:
        try:  # not while a run is sending
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockError(f"another scorecard run holds the lock {folder / LOCK_NAME}") from None
        click.echo(settle_message(folder, message, delivered))


@cli.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="demo", show_default=True,
              help="Where the demo database and outputs go (it is replaced).")  # fmt: skip
@click.option("--format", "formats", help="Comma-separated: pdf,html,csv,json (default: all four).")
@log_format_option
@_fails_cleanly
def demo(directory: str, formats: str | None, log_format: str) -> None:
    """Build the demo database and run the whole job on it, as of ten days before the last quarter end."""
    from importlib import resources

    from extract.source import open_engine
    from scorecard.demo_data import generate_demo_data

    base = Path(directory)
    database = base / "scorecard.db"
    base.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    shutil.rmtree(base / "out", ignore_errors=True)
    url = f"sqlite:///{database}"
    # Ten days before the quarter's end, as a nightly run mid-month sees it: the
    # quarter is nearly complete and its last month still provisional.
    as_of = _last_quarter_end(dt.date.today()) - dt.timedelta(days=10)
    engine = open_engine(url)
    try:
        counts = generate_demo_data(engine, as_of)
    finally:
        engine.dispose()
    _progress("demo data: " + ", ".join(f"{n} {c:,}" for n, c in counts.items()))
    example = resources.files("scorecard").joinpath("example-config.toml")
    with resources.as_file(example) as config_file:
        config = api.load_config(config_file, formats=formats, output_dir=base / "out")
    config = config.with_overrides(origin="config: the demo's, scorecard/example-config.toml")
    _progress(f"outputs will be in {base / 'out' / as_of.isoformat()}; open portfolio.pdf first")
    # The demo shows the emails it would send, as .eml files, and sends nothing; with neither
    # pdf nor html there is nothing to attach, so no email, and no --send to complain about.
    attaches = any(f in config.run.formats for f in ("pdf", "html"))
    _run_and_report(config, database_url=url, as_of=as_of, email_dry_run=attaches)


def main() -> None:
    cli(prog_name="scorecard")


if __name__ == "__main__":
    main()
