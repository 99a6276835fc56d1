"""A simulated year of nights (contract section 11): disk and emails over 365 runs.

    BENCH_PARTS=year make bench          # results in bench/RESULTS-year.md
    BENCH_YEAR_NIGHTS=60 BENCH_PARTS=year make bench   # a shorter season, to try it

The demo world (8 outsourced vendors and the in-house teams) is generated once through the
year's last day into SQLite; the job then runs in this process once per night, as of each
day of the year in turn, with the default retention (`keep_days` 35, `keep_closed_periods`
8), the default email cadence (`period_close`) and --send to a real SMTP server on
127.0.0.1 (aiosmtpd) that counts what each recipient receives. The stale-data gate is off
(`max_data_age_hours = 0`): the world is generated at once, not fed nightly.

Formats: html, csv and json every night (the emails attach the HTML), so every run folder
holds what a nightly run without PDF holds (BENCH_YEAR_HTML_FROM=2026-10-01 renders csv and
json alone before that day, but on each quarter's last night, and sends nothing then: a
shorter run whose alerts are measured over the last quarter only). PDF costs most of a night's time, so the
PDFs' share of a run folder is measured on separate full runs (all four formats) at 8 and
at 16 vendors; the disk with PDFs is the simulated folder plus that share for every run
folder kept. The per-vendor figure is the slope between the 8- and the 16-vendor folders.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import platform
import shutil
import socket
import tempfile
import time
from collections import Counter
from email import policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "scorecard" / "example-config.toml"
FIRST = dt.date(2026, 1, 1)
LAST = dt.date(2026, 12, 31)


class _Recorder:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        for to in envelope.rcpt_tos:
            self.received.append((to, str(message["Subject"])))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _world(path: Path, vendors: int | None) -> str:
    from extract.source import open_engine
    from scorecard.demo_data import generate_demo_data

    url = f"sqlite:///{path}"
    engine = open_engine(url)
    try:
        generate_demo_data(engine, LAST, vendors=vendors)
    finally:
        engine.dispose()
    return url


def _config(out: Path, formats: list[str], port: int | None = None) -> Any:
    import scorecard

    config = scorecard.load_config(CONFIG, formats=",".join(formats), output_dir=out)
    overrides: dict[str, Any] = {"run": {"max_data_age_hours": 0}}
    if port is not None:
        overrides["email"] = {"smtp_host": "127.0.0.1", "smtp_port": port,
                              "retry_delay_seconds": 0.01}  # fmt: skip
    return config.model_copy(
        update={
            section: getattr(config, section).model_copy(update=values)
            for section, values in overrides.items()
        }
    )


KINDS = ("closing", "pack alert", "standing", "special cause", "credit due", "other")


def _kind(subject: str) -> str:
    """What a message was sent for, from its subject ("(alert: standing good -> watch)")."""
    if "alert:" not in subject:
        return "closing"
    if " vendor)" in subject or " vendors)" in subject:  # the pack's: "(alert: 2 vendors)"
        return "pack alert"
    for kind, words in (("standing", "standing"), ("special cause", "special cause"),
                        ("credit due", "credit now due")):  # fmt: skip
        if words in subject:
            return kind
    return "other"


def _world_size(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT sourcing, COUNT(*) FROM vendors GROUP BY sourcing")
            ).all()
    finally:
        engine.dispose()
    counts = {str(sourcing): int(n) for sourcing, n in rows}
    return {"outsourced": sum(n for k, n in counts.items() if k != "in_house"),
            "in_house": counts.get("in_house", 0)}  # fmt: skip


def _one_full_run(work: Path, url: str, as_of: dt.date) -> tuple[int, int, float, int, int]:
    """One run with all four formats: (run folder bytes, its PDFs' bytes, seconds, the bytes
    of its scorecards, how many vendors have one)."""
    import scorecard

    out = work / "full"
    config = _config(out, ["pdf", "html", "csv", "json"])
    started = time.perf_counter()
    scorecard.run(config, database_url=url, as_of=as_of)
    seconds = time.perf_counter() - started
    folder = out / as_of.isoformat()
    pdf = sum(p.stat().st_size for p in folder.rglob("*.pdf"))
    scorecards = _size(folder / "vendors") + _size(folder / "vendor-facing")
    vendors = len(list((folder / "vendors").glob("*.pdf")))
    return _size(folder), pdf, seconds, scorecards, vendors


HTML_FROM = dt.date.fromisoformat(os.environ.get("BENCH_YEAR_HTML_FROM", FIRST.isoformat()))
"""From this night on, every night renders HTML and sends (by default, every night)."""


def _renders_html(day: dt.date) -> bool:
    """The last quarter's nights and every quarter's last night: html, csv and json, sent;
    the other nights csv and json alone, not sent (there is nothing to attach)."""
    quarter_end = (day + dt.timedelta(days=1)).day == 1 and day.month % 3 == 0
    return day >= HTML_FROM or quarter_end


def year_benchmark(nights: int | None = None) -> list[str]:
    from aiosmtpd.controller import Controller

    import scorecard

    last = LAST if nights is None else FIRST + dt.timedelta(days=nights - 1)
    work = Path(tempfile.mkdtemp(prefix="scorecard-bench-year-"))
    recorder = _Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        url = _world(work / "year.db", None)
        out = work / "out"
        with_html = _config(out, ["html", "csv", "json"], controller.port)
        tables_only = _config(out, ["csv", "json"], controller.port)
        sizes: list[tuple[dt.date, int, int]] = []
        sent: dict[dt.date, list[tuple[str, str]]] = {}
        seconds: list[float] = []
        exits: Counter[int] = Counter()
        day = FIRST
        while day <= last:
            before = len(recorder.received)
            started = time.perf_counter()
            html = _renders_html(day)
            config = with_html if html else tables_only
            result = scorecard.run(config, database_url=url, as_of=day, send=html)
            seconds.append(time.perf_counter() - started)
            exits[result.exit_code] += 1
            sent[day] = recorder.received[before:]
            folders = [
                p for p in out.iterdir()
                if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
            ]  # fmt: skip
            sizes.append((day, _size(out), len(folders)))
            if day.day == 1 or day == last:
                print(f"year: {day} folder {_size(out) / 2**20:.1f} MiB in {len(folders)} runs, "
                      f"{len(recorder.received)} emails so far", flush=True)  # fmt: skip
            day += dt.timedelta(days=1)
        end_day, end_bytes, end_runs = sizes[-1]
        peak_day, peak_bytes, peak_runs = max(sizes, key=lambda s: s[1])
        ledger = (out / "ledger.jsonl").stat().st_size
        journals = sum(p.stat().st_size for p in out.glob("*.emails.jsonl"))
        run_folders = [
            p for p in out.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        ]  # fmt: skip
        night_sizes = sorted(_size(p) for p in run_folders)
        kept = sorted(p.name for p in run_folders)
        # Emails per recipient per quarter.
        per_quarter: dict[str, Counter[str]] = {}
        for night, mails in sent.items():
            quarter = f"{night.year}-Q{(night.month - 1) // 3 + 1}"
            per_quarter.setdefault(quarter, Counter()).update(to for to, _ in mails)
        nights_with_mail = sum(1 for mails in sent.values() if mails)
        restated: Counter[str] = Counter()
        for line in (out / "ledger.jsonl").read_text("utf-8").splitlines():
            for r in json.loads(line).get("restated", []):
                restated[f"{r['period']} {r['vendor_id']}"] += 1
        world = _world_size(url)
        # The PDFs' share of a run folder, and the scorecards' per vendor.
        full8, pdf8, full8_s, cards8, vendors8 = _one_full_run(work, url, dt.date(2026, 9, 30))
    finally:
        controller.stop()
        shutil.rmtree(work, ignore_errors=True)

    per_vendor = cards8 / vendors8
    rest8 = full8 - cards8
    mib = 2**20
    end_with_pdf = end_bytes + end_runs * pdf8
    peak_with_pdf = max(b + n * pdf8 for _, b, n in sizes)
    run_at_100 = rest8 + 100 * per_vendor
    at_100 = end_runs * run_at_100 + (ledger + journals) * 100 / vendors8
    load = os.getloadavg()
    every_night = HTML_FROM <= FIRST
    formats = (
        "html, csv and json every night, with --send to a real SMTP server on 127.0.0.1"
        if every_night
        else f"csv and json every night; html too, with --send to a real SMTP server on "
        f"127.0.0.1, on every night from {HTML_FROM} and on each quarter's last night (the "
        "other nights send nothing: there is nothing to attach)"
    )
    lines = [
        f"{len(sizes)} nights, as of {FIRST} to {sizes[-1][0]}, on the demo world "
        f"({world['outsourced']} outsourced vendors, {world['in_house']} in-house teams; "
        "SQLite), default retention (keep_days 35, keep_closed_periods 8), email cadence "
        f"period_close with the default alert rules. Formats: {formats}. Load average at the "
        f"end {load[0]:.1f} (1 min) on a shared 2-core machine: times are under load.",
        "",
        "## Disk",
        "",
        "| | bytes | MiB | run folders |",
        "|---|---:|---:|---:|",
        f"| Output folder at the end ({end_day}) | {end_bytes:,} | {end_bytes / mib:.1f} | "
        f"{end_runs} |",
        f"| Its peak ({peak_day}) | {peak_bytes:,} | {peak_bytes / mib:.1f} | {peak_runs} |",
        f"| At the end, adding one run's PDFs (measured below) per run folder | "
        f"{end_with_pdf:,} | {end_with_pdf / mib:.1f} | {end_runs} |",
        f"| Peak, the same | {peak_with_pdf:,} | {peak_with_pdf / mib:.1f} | |",
        f"| The ledger ({len(sizes)} lines, never pruned) | {ledger:,} | {ledger / mib:.2f} | |",
        f"| Email journals kept | {journals:,} | {journals / mib:.2f} | |",
        "",
        f"Run folders kept at the end: {', '.join(kept)}.",
        "",
        f"One run folder with html, csv and json: up to {night_sizes[-1]:,} bytes. One with all "
        f"four formats (as of 2026-09-30, all formats, {full8_s:.0f} s): {full8:,} bytes, "
        f"{pdf8:,} of it PDF; its {vendors8} vendors' scorecards (internal and vendor-facing, "
        f"PDF and HTML) {cards8:,} bytes, {per_vendor:,.0f} per vendor; the pack and the "
        f"tables {rest8:,}.",
        "",
        f"At 100 vendors, extrapolated with that per-vendor figure (the pack and the tables "
        f"taken as at {vendors8} scorecards, so a little low): a run folder of about "
        f"{run_at_100 / mib:.1f} MiB, {end_runs} of them kept, with the ledger and journals "
        f"scaled: about {at_100 / 2**30:.2f} GiB. Bounded: it grows by one run folder per "
        "closed period until keep_closed_periods periods have closed, and the ledger by one "
        "line a night.",
        "",
        "## Emails per recipient per quarter",
        "",
        "| Quarter | " + " | ".join(sorted({to for c in per_quarter.values() for to in c})) + " |",
        "|---|" + "---:|" * len({to for c in per_quarter.values() for to in c}),
    ]
    recipients = sorted({to for c in per_quarter.values() for to in c})
    for quarter, counts in sorted(per_quarter.items()):
        lines.append(f"| {quarter} | " + " | ".join(str(counts[r]) for r in recipients) + " |")
    sending = {d: m for d, m in sent.items() if d >= HTML_FROM and m}
    kinds: dict[str, Counter[str]] = {}
    for night, mails in sent.items():
        quarter = f"{night.year}-Q{(night.month - 1) // 3 + 1}"
        for _, subject in mails:
            kinds.setdefault(quarter, Counter())[_kind(subject)] += 1
    lines += [
        "",
        "What the messages were, per quarter (a message can carry several alerts):",
        "",
        "| Quarter | " + " | ".join(KINDS) + " |",
        "|---|" + "---:|" * len(KINDS),
        *[
            f"| {quarter} | " + " | ".join(str(counts[k]) for k in KINDS) + " |"
            for quarter, counts in sorted(kinds.items())
        ],
        "",
        (
            ""
            if every_night
            else f"Up to {HTML_FROM} only each quarter's last night could send (the others "
            "rendered no HTML): those quarters' figures are their closing messages alone. "
        )
        + f"Messages went out on {len(sending)} of {sum(1 for d in sent if d >= HTML_FROM)} "
        "nights that could send: "
        + "; ".join(f"{d} {len(m)}" for d, m in sorted(sending.items()))
        + ".",
        "",
        "Restated closed-period figures (period, vendor: the nights that said so): "
        + ("; ".join(f"{k}: {v}" for k, v in sorted(restated.items())) or "none")
        + ".",
        "",
        f"{sum(len(m) for m in sent.values())} messages in all, on {nights_with_mail} of "
        f"{len(sent)} nights; exit codes {dict(exits)}. A night took {min(seconds):.1f} to "
        f"{max(seconds):.1f} s (median {sorted(seconds)[len(seconds) // 2]:.1f} s).",
        "",
    ]
    return lines


def main() -> None:
    nights = os.environ.get("BENCH_YEAR_NIGHTS")
    lines = year_benchmark(int(nights) if nights else None)
    print("\n".join(lines))
    if not nights:
        header = (
            f"# Benchmark results: a simulated year of nights\n\nMeasured {dt.date.today()} on "
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            "by `BENCH_PARTS=year make bench` (bench/year.py).\n\n"
        )
        (ROOT / "bench" / "RESULTS-year.md").write_text(header + "\n".join(lines))


if __name__ == "__main__":
    main()
