"""Benchmarks: wall time and peak memory of the job, each in a fresh process.

    make bench                          # SQLite (and PostgreSQL if reachable), scales 1 and 4
    BENCH_SCALES=1,4,16 make bench      # bigger
    BENCH_POSTGRESQL_URL=... make bench  # another server

Writes bench/RESULTS.md. Each measurement is one `scorecard` process: the time
is wall-clock, and peak RSS is what the kernel reports for that process (wait4).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scorecard.reports.build import ReportInputs

ROOT = Path(__file__).resolve().parents[1]
SCORECARD = [sys.executable, "-m", "scorecard.cli"]
AS_OF = "2026-09-30"
CONFIG = ROOT / "examples" / "scorecard.toml"


@dataclass
class Measurement:
    label: str
    seconds: float
    peak_rss_mib: float


def measure(label: str, args: list[str]) -> Measurement:
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{label} failed with exit {code}:\n{stderr}")
    return Measurement(label, elapsed, usage.ru_maxrss / 1024)


def work_items(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM work_items")).scalar_one()
    engine.dispose()
    return int(count)


def own_database(server_url: str, name: str = "scorecard_bench") -> str | None:
    """A fresh database of the bench's own on the server (never the server's own tables), or None."""
    try:
        admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
    except Exception as exc:  # no server here: the bench runs on SQLite alone
        print(f"PostgreSQL skipped: {type(exc).__name__}", file=sys.stderr)
        return None
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str = "scorecard_bench") -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def bench_database(
    kind: str, url: str, scale: float, out: Path
) -> list[tuple[str, int, Measurement]]:
    subprocess.run(
        [*SCORECARD, "demo-data", "--database-url", url, "--scale", str(scale), "--through", AS_OF, "--replace"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rows = work_items(url)
    run = [
        *SCORECARD,
        "run",
        "--config",
        str(CONFIG),
        "--database-url",
        url,
        "--as-of",
        AS_OF,
        "--out",
        str(out),
    ]
    results = [
        (kind, rows, measure(f"extract+score, csv (scale {scale:g})", [*run, "--format", "csv"]))
    ]
    if scale == 1:
        results.append((kind, rows, measure("whole job, all formats (scale 1)", run)))
    return results


def hundred_vendor_inputs(work: Path) -> ReportInputs:
    """The demo world's score table with each vendor cloned until there are 100 of them."""
    import polars as pl

    from scorecard.config import load_config
    from scorecard.extract.source import open_engine, read_source
    from scorecard.extract.validate import ValidatedData, validate
    from scorecard.scoring.periods import periods_for
    from scorecard.scoring.table import score_table

    url = f"sqlite:///{work / 'render.db'}"
    subprocess.run([*SCORECARD, "demo-data", "--database-url", url, "--scale", "0.2", "--through", AS_OF],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    config = load_config(CONFIG)
    engine = open_engine(url)
    data = validate(read_source(engine), config.currency)
    engine.dispose()
    as_of = dt.date.fromisoformat(AS_OF)
    periods = periods_for(as_of, "quarter", config.run.history_periods)
    table = score_table(data, periods, config, as_of)

    def clone(frame: pl.DataFrame, copies: int, names: bool) -> pl.DataFrame:
        parts = []
        for k in range(copies):
            part = frame.with_columns(pl.col("vendor_id") + f"-{k:02d}")
            if names:
                name = "vendor_name" if "vendor_name" in frame.columns else "name"
                part = part.with_columns(pl.col(name) + f" {k:02d}")
            parts.append(part)
        return pl.concat(parts)

    copies = -(-100 // data.vendors.height)
    vendors = clone(data.vendors, copies, True).sort("vendor_id").head(100)
    keep = vendors.get_column("vendor_id")
    big_table = clone(table, copies, True).filter(pl.col("vendor_id").is_in(keep.implode()))
    big_data = ValidatedData(
        vendors=vendors, work_items=data.work_items.clear(), requests=data.requests.clear(),
        charges=clone(data.charges, copies, False).filter(pl.col("vendor_id").is_in(keep.implode())),
        data_quality=data.data_quality.clear(), counts=data.counts,
    )  # fmt: skip
    return ReportInputs(big_table, big_data, periods, config, as_of)


def render_benchmark(work: Path) -> list[str]:
    """100 vendors: time per page, speed-up over one process, time outside WeasyPrint."""
    from scorecard.reports.build import RenderStats, render_reports

    inputs = hundred_vendor_inputs(work)
    results = {}
    for workers in (1, os.cpu_count() or 1):
        reports = inputs.config.reports.model_copy(update={"workers": workers})
        config = inputs.config.model_copy(update={"reports": reports})
        run_inputs = ReportInputs(inputs.table, inputs.data, inputs.periods, config, inputs.as_of)
        stats = RenderStats()
        render_reports(run_inputs, ("pdf", "html"), lambda _: None, stats)
        results[workers] = stats
        print(f"render: {workers} process(es): {stats.documents} documents, {stats.pdf_pages} pages, "
              f"{stats.wall_seconds:.1f} s, WeasyPrint {stats.weasyprint_seconds:.1f} s")  # fmt: skip
    one, many = results[1], results[max(results)]
    outside = (one.wall_seconds - one.weasyprint_seconds) / one.wall_seconds
    return [
        "## Rendering: 100 vendors",
        "",
        "The demo world's scorecards cloned to 100 vendors: the portfolio pack, 100 internal and "
        "the vendor-facing scorecards, as PDF and HTML.",
        "",
        "| processes | documents | PDF pages | wall time | per page | speed-up | time in WeasyPrint |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {w} | {s.documents} | {s.pdf_pages} | {s.wall_seconds:.1f} s | "
            f"{s.wall_seconds / s.pdf_pages * 1000:.0f} ms | {one.wall_seconds / s.wall_seconds:.2f}× | "
            f"{s.weasyprint_seconds:.1f} s |"
            for w, s in sorted(results.items())
        ],
        "",
        f"With one process, {outside:.0%} of the wall time is spent outside WeasyPrint (view models, "
        f"charts, templates). Speed-up with {many.workers} processes: "
        f"{one.wall_seconds / many.wall_seconds:.2f}×.",
        "",
    ]


def main() -> None:
    scales = [float(s) for s in os.environ.get("BENCH_SCALES", "1,4").split(",")]
    postgresql = os.environ.get(
        "BENCH_POSTGRESQL_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
    )
    work = Path(tempfile.mkdtemp(prefix="scorecard-bench-"))
    results: list[tuple[str, int, Measurement]] = []
    bench_postgresql = None
    try:
        targets: list[tuple[str, str | None]] = [("SQLite", None)]
        bench_postgresql = own_database(postgresql)
        if bench_postgresql:
            targets.append(("PostgreSQL", bench_postgresql))
        for scale in scales:
            for kind, url in targets:
                url = url or f"sqlite:///{work / f'bench-{scale:g}.db'}"
                for kind_, rows, m in bench_database(kind, url, scale, work / "out"):
                    print(
                        f"{kind_:11} {rows:>10,} work items  {m.label:38} {m.seconds:7.1f} s {m.peak_rss_mib:8.0f} MiB"
                    )
                    results.append((kind_, rows, m))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if bench_postgresql:
            drop_database(postgresql)
    work = Path(tempfile.mkdtemp(prefix="scorecard-bench-render-"))
    try:
        render_lines = render_benchmark(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "# Benchmark results",
        "",
        f"Measured {dt.date.today()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, by `make bench` (bench/run.py).",
        "Each row is one `scorecard run` process on the demo world at that scale, as of "
        f"{AS_OF} (five quarters reported): wall time and the process's peak RSS.",
        "",
        "| database | work items | what | wall time | peak RSS |",
        "|---|---:|---|---:|---:|",
        *[
            f"| {kind} | {rows:,} | {m.label} | {m.seconds:.1f} s | {m.peak_rss_mib:.0f} MiB |"
            for kind, rows, m in results
        ],
        "",
        *render_lines,
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
