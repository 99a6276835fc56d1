"""Benchmarks: wall time and peak memory of the job, each in a fresh process.

    make bench                                   # everything below, results in bench/RESULTS.md
    BENCH_SIZES=1000000,4000000 make bench       # PostgreSQL sizes in work items (default 1M, 4M, 10M)
    BENCH_SCALES=1,4 make bench                  # SQLite demo scales (default 1, 4)
    BENCH_POSTGRESQL_URL=... make bench          # another server

1. Extract+score (`scorecard run --format csv`) on PostgreSQL at 1M, 4M and 10M
   work items, side by side with (a) the database's own GROUP BY over the same
   rows, the floor, and (b) the way most users would do it: pandas.read_sql of
   the raw rows, then a groupby; and through queries, without keys. Alone:
   `BENCH_PARTS=postgresql BENCH_SIZES=1000000,4000000 make bench` (results in
   bench/RESULTS-postgresql.md).
   The same on SQLite, MariaDB and DuckDB at 1M and 4M work items (`BENCH_ENGINE_SIZES`,
   `BENCH_ENGINES=SQLite,MariaDB,DuckDB`, `BENCH_RUNS`, default 3 alternating runs), with and
   without keys, each against that engine's own GROUP BY; the worlds are generated once into
   bench/data (git-ignored) and reused. Alone: `BENCH_PARTS=engines,render-cpu make bench`
   (results in bench/RESULTS-engines.md).
2. Extract+score and the whole job on SQLite and PostgreSQL at demo scales.
3. Rendering 100 vendors' reports; and the whole job's CPU (every process it starts)
   against WeasyPrint alone on the HTML documents that job wrote.
4. The whole job (`scorecard run`, all formats) at 10, 100 and 1,000 outsourced
   vendors (`demo-data --vendors`): time, PDF pages, peak RSS, the portfolio's
   render time per page and the time per vendor document. Alone:
   `BENCH_PARTS=vendors make bench` (results in bench/RESULTS-vendors.md);
   `BENCH_VENDORS=10,100` for other sizes.
5. Engines side by side: the same world on DuckDB, PostgreSQL and Spark SQL (local
   mode and a standalone cluster of a master and two one-core workers, Parquet tables)
   at 1M and 10M work items, each against its own GROUP BY. Alone:
   `BENCH_PARTS=spark make bench` (results in bench/RESULTS-spark.md, written whole);
   `BENCH_SPARK_SIZES=10000000` for other sizes, `BENCH_SPARK_ENGINES=DuckDB,Spark cluster`
   for some of DuckDB, PostgreSQL, Spark local, Spark cluster.
6. A full night against the quiet night after it (no new data: unchanged PDFs are reused)
   at 10 and 100 vendors, wall time and CPU of every process, medians of BENCH_RUNS.
   Only with `BENCH_PARTS=quiet make bench` (results in bench/RESULTS-quiet.md);
   `BENCH_QUIET_VENDORS=10,100` for other sizes.
7. A simulated year of nights (bench/year.py): disk after 365 runs with the default
   retention, and emails per recipient per quarter. Only when asked:
   `BENCH_PARTS=year make bench` (results in bench/RESULTS-year.md).

Each measurement is one process: the time is wall-clock, and peak RSS is what
the kernel reports for that process (wait4). The floor and the pandas way run
as `python bench/run.py floor|pandas URL`, in processes of their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reports.build import ReportInputs

ROOT = Path(__file__).resolve().parents[1]
SCORECARD = [sys.executable, "-m", "scorecard.cli"]
AS_OF = "2026-09-30"
CONFIG = ROOT / "scorecard" / "example-config.toml"
# The window of a run as of AS_OF with four quarters of history.
WINDOW_START, CUTOFF = "2025-07-01", "2026-10-01"
# The demo world has about this many work items at --scale 1.
ITEMS_AT_SCALE_1 = 107_343
# What a process prints of its own stage time (the run's log line, or the helpers below).
STAGE_TIME = re.compile(r"(?:extract and score|stage): ([0-9.]+) s")


@dataclass
class Measurement:
    label: str
    seconds: float
    peak_rss_mib: float
    stage_seconds: float | None = None
    """The stage alone, as the process timed it: without starting Python and importing."""


def measure(label: str, args: list[str]) -> Measurement:
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        output.seek(0)
        printed = output.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{label} failed with exit {code}:\n{printed}")
    found = STAGE_TIME.search(printed)
    stage = float(found.group(1)) if found else None
    return Measurement(label, elapsed, usage.ru_maxrss / 1024, stage)


PR_SET_CHILD_SUBREAPER = 36


def cpu_of_tree(args: list[str]) -> tuple[float, float, str]:
    """CPU seconds (user + system) of a command and every process it starts, and its wall time.

    The render workers are children of multiprocessing's fork server, which is never waited
    for by the job: this process becomes a subreaper, so the server is reparented here when the
    job exits and its rusage (which includes the workers it reaped) is collected too.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        while True:  # orphans of the job: the fork server, once the job closed its pipe
            try:
                _, _, orphan = os.wait4(-1, 0)
            except ChildProcessError:
                break
            cpu += orphan.ru_utime + orphan.ru_stime
        elapsed = time.perf_counter() - started
        output.seek(0)
        printed = output.read().decode(errors="replace")
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{args} failed:\n{printed}")
    return cpu, elapsed, printed


def weasyprint_alone(folder: str) -> None:
    """WeasyPrint by itself on the HTML documents of a run: the same print stylesheet, fonts
    and PDF variant as the job, nothing else (no data, no charts, no checks)."""
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    from reports.render import _static, restricted_fetcher

    fonts = FontConfiguration()
    css = CSS(string=_static("print.css"), url_fetcher=restricted_fetcher(), font_config=fonts)
    pages = 0
    for path in sorted(Path(folder).rglob("*.html")):
        if "emails" in path.parts:
            continue
        document = HTML(string=path.read_text("utf-8"), url_fetcher=restricted_fetcher()).render(
            stylesheets=[css], font_config=fonts, pdf_variant="pdf/a-3u"
        )
        document.write_pdf(pdf_variant="pdf/a-3u")
        pages += len(document.pages)
    print(f"{pages} pages")


def render_cpu_benchmark(work: Path, runs: int = 3) -> list[str]:
    """The whole job's CPU (every process) against WeasyPrint alone on the documents it made."""
    url = f"sqlite:///{work / 'render-cpu.db'}"
    subprocess.run(demo_data_command(url, 1), check=True, stdout=subprocess.DEVNULL)
    out = work / "render-cpu-out"
    jobs, alone = [], []
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        jobs.append(cpu_of_tree(run_command(url, out))[0])
        alone.append(cpu_of_tree([sys.executable, __file__, "weasyprint", str(out / AS_OF)])[0])
    job, weasy = min(jobs), min(alone)
    print(f"render CPU: whole job {job:.1f} s, WeasyPrint alone {weasy:.1f} s: {job / weasy:.2f}x")
    return [
        "## The whole job's CPU against WeasyPrint alone",
        "",
        "The demo world at scale 1 (`scorecard run`, all formats, the example config: the "
        "portfolio pack, every vendor's internal and vendor-facing scorecard, HTML and PDF), "
        "CPU seconds (user + system) of the job and every process it starts (render workers "
        "and their fork server included), against one process running WeasyPrint alone on the "
        "HTML documents that run wrote (same stylesheet, fonts and PDF/A variant, imports "
        f"included). Least of {runs} runs each. Goal: within 1.3×.",
        "",
        "| whole job: CPU | WeasyPrint alone: CPU | job ÷ WeasyPrint |",
        "|---:|---:|---:|",
        f"| {job:.1f} s | {weasy:.1f} s | {job / weasy:.2f}× |",
        "",
    ]


def best_of(runs: int, label: str, args: list[str]) -> Measurement:
    """The fastest of a few runs: the least disturbed by whatever else the machine did."""
    return min((measure(label, args) for _ in range(runs)), key=lambda m: m.stage_seconds or 0)


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


def demo_data_command(url: str, scale: float) -> list[str]:
    return [*SCORECARD, "demo-data", "--database-url", url, "--scale", f"{scale:.4f}",
            "--through", AS_OF, "--replace"]  # fmt: skip


def run_command(url: str, out: Path, config: Path = CONFIG) -> list[str]:
    """`scorecard run` on the demo world, with text logs (they carry the stage time)."""
    return [*SCORECARD, "run", "--config", str(config), "--database-url", url, "--as-of", AS_OF,
            "--out", str(out), "--log-format", "text"]  # fmt: skip


def _query_config(work: Path) -> Path:
    """The example config, with work items and requests read through a query: no key to trust,
    so every ID goes through the duplicate check, as for any view or export."""
    config = work / "through-queries.toml"
    config.write_text(
        CONFIG.read_text()
        + '\n[source.work_items]\nquery = "SELECT * FROM work_items"\n'
        + '\n[source.requests]\nquery = "SELECT * FROM requests"\n'
    )
    return config


def bench_database(
    kind: str, url: str, scale: float, out: Path
) -> list[tuple[str, int, Measurement]]:
    subprocess.run(demo_data_command(url, scale), check=True, stdout=subprocess.DEVNULL)
    rows = work_items(url)
    run = run_command(url, out)
    results = [
        (kind, rows, measure(f"extract+score, csv (scale {scale:g})", [*run, "--format", "csv"]))
    ]
    if scale == 1:
        results.append((kind, rows, measure("whole job, all formats (scale 1)", run)))
    return results


FLOOR_WORK_ITEMS = f"""
SELECT vendor_id, process, CAST(completed_at AS DATE) AS day, COUNT(*), SUM(units), SUM(defects),
       SUM(qa_checked_units), SUM(CASE WHEN reworked THEN 1 ELSE 0 END),
       SUM(date_part('epoch', completed_at - received_at)),
       SUM(CASE WHEN completed_at <= due_at THEN 1 ELSE 0 END)
FROM work_items WHERE completed_at >= '{WINDOW_START}' AND completed_at < '{CUTOFF}'
GROUP BY 1, 2, 3"""
FLOOR_REQUESTS = f"""
SELECT vendor_id, process, CAST(opened_at AS DATE) AS day, COUNT(*), COUNT(first_response_at),
       SUM(date_part('epoch', first_response_at - opened_at))
FROM requests WHERE opened_at >= '{WINDOW_START}' AND opened_at < '{CUTOFF}'
GROUP BY 1, 2, 3"""


# Spark SQL has no date_part('epoch', interval): seconds between two timestamps from their microseconds.
_SPARK_SECONDS = re.compile(r"date_part\('epoch', (\w+) - (\w+)\)")


# The same floor in each engine's own spelling: the day of a time and seconds between two.
ENGINE_SPELLING = {
    "sqlite": ("date({t})", "(julianday({end}) - julianday({start})) * 86400"),
    "mysql": ("DATE({t})", "TIMESTAMPDIFF(SECOND, {start}, {end})"),
    "duckdb": ("CAST({t} AS DATE)", "date_diff('second', {start}, {end})"),
}


def _floor_queries(dialect: str) -> list[str]:
    day, seconds = ENGINE_SPELLING[dialect]
    return [
        f"""
SELECT vendor_id, process, {day.format(t="completed_at")} AS day, COUNT(*), SUM(units),
       SUM(defects), SUM(qa_checked_units), SUM(CASE WHEN reworked THEN 1 ELSE 0 END),
       SUM({seconds.format(start="received_at", end="completed_at")}),
       SUM(CASE WHEN completed_at <= due_at THEN 1 ELSE 0 END)
FROM work_items WHERE completed_at >= '{WINDOW_START}' AND completed_at < '{CUTOFF}'
GROUP BY 1, 2, 3""",
        f"""
SELECT vendor_id, process, {day.format(t="opened_at")} AS day, COUNT(*), COUNT(first_response_at),
       SUM({seconds.format(start="opened_at", end="first_response_at")})
FROM requests WHERE opened_at >= '{WINDOW_START}' AND opened_at < '{CUTOFF}'
GROUP BY 1, 2, 3""",
    ]


def engine_floor(url: str) -> None:
    """The floor on SQLite, MariaDB or DuckDB: the same sums in that engine's own GROUP BY."""
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as connection:
        groups = sum(
            len(connection.exec_driver_sql(sql).all())
            for sql in _floor_queries(engine.dialect.name)
        )
    print(f"{groups} groups; stage: {time.perf_counter() - started:.3f} s")
    engine.dispose()


def floor(url: str) -> None:
    """The database's own GROUP BY: the same sums per vendor, process and day, no checks.

    On PostgreSQL run twice, with the planner's own choice and with hashing forced as
    the job does; the faster counts, so the floor is as low as the database can go.
    """
    engine = create_engine(url)
    queries = [FLOOR_WORK_ITEMS, FLOOR_REQUESTS]
    if engine.dialect.name == "hive":
        queries = [
            _SPARK_SECONDS.sub(r"(unix_micros(\1) - unix_micros(\2)) / 1e6", q) for q in queries
        ]
    timings = []
    for settings in (
        [[], ["SET LOCAL enable_sort = off", "SET LOCAL enable_incremental_sort = off"]]
        if engine.dialect.name == "postgresql"
        else [[]]
    ):
        with engine.begin() as connection:
            for setting in settings:
                connection.exec_driver_sql(setting)
            started = time.perf_counter()
            groups = sum(len(connection.exec_driver_sql(query).all()) for query in queries)
            timings.append(time.perf_counter() - started)
    print(f"{groups} groups; stage: {min(timings):.3f} s")


def pandas_way(url: str) -> None:
    """What most users would write: read the raw rows with pandas, then group them."""
    started = time.perf_counter()
    import pandas as pd

    engine = create_engine(url)
    items = pd.read_sql(
        text("SELECT * FROM work_items WHERE completed_at >= :start AND completed_at < :cutoff"),
        engine,
        params={"start": WINDOW_START, "cutoff": CUTOFF},
    )
    requests = pd.read_sql(
        text("SELECT * FROM requests WHERE opened_at >= :start AND opened_at < :cutoff"),
        engine,
        params={"start": WINDOW_START, "cutoff": CUTOFF},
    )
    items["day"] = items["completed_at"].dt.date
    items["turnaround_hours"] = (
        items["completed_at"] - items["received_at"]
    ).dt.total_seconds() / 3600
    items["on_time"] = items["completed_at"] <= items["due_at"]
    item_sums = items.groupby(["vendor_id", "process", "day"]).agg(
        items=("work_item_id", "count"), units=("units", "sum"), defects=("defects", "sum"),
        qa=("qa_checked_units", "sum"), reworked=("reworked", "sum"),
        turnaround=("turnaround_hours", "sum"), on_time=("on_time", "sum"),
    )  # fmt: skip
    requests["day"] = requests["opened_at"].dt.date
    requests["response_hours"] = (
        requests["first_response_at"] - requests["opened_at"]
    ).dt.total_seconds() / 3600
    request_sums = requests.groupby(["vendor_id", "process", "day"]).agg(
        requests=("request_id", "count"), answered=("first_response_at", "count"),
        response=("response_hours", "sum"),
    )  # fmt: skip
    groups = len(item_sums) + len(request_sums)
    print(f"{groups} groups; stage: {time.perf_counter() - started:.3f} s")


def postgresql_at_scale(server_url: str, sizes: list[int]) -> list[str]:
    """Extract+score against the floor and the pandas way, at millions of work items."""
    url = own_database(server_url, "scorecard_bench_big")
    if url is None:
        return ["## PostgreSQL at scale", "", "Skipped: no PostgreSQL server reachable.", ""]
    rows_out = []
    try:
        with tempfile.TemporaryDirectory(prefix="scorecard-bench-") as work:
            for size in sizes:
                scale = size / ITEMS_AT_SCALE_1
                generated = measure("demo-data", demo_data_command(url, scale))
                rows = work_items(url)
                ours = best_of(
                    5, "scorecard", [*run_command(url, Path(work) / "out"), "--format", "csv"]
                )
                keyless = best_of(
                    3,
                    "scorecard, queries without keys",
                    [*run_command(url, Path(work) / "out", _query_config(Path(work))), "--format",
                     "csv"],
                )  # fmt: skip
                floor_run = best_of(5, "floor", [sys.executable, __file__, "floor", url])
                pandas_run = measure("pandas", [sys.executable, __file__, "pandas", url])
                line = (rows, generated, ours, keyless, floor_run, pandas_run)
                rows_out.append(line)
                print(
                    f"{rows:>11,} work items: scorecard stage {ours.stage_seconds:.2f} s "
                    f"(process {ours.seconds:.2f} s, {ours.peak_rss_mib:.0f} MiB), floor "
                    f"{floor_run.stage_seconds:.2f} s, pandas {pandas_run.stage_seconds:.2f} s "
                    f"({pandas_run.peak_rss_mib:.0f} MiB); generated in {generated.seconds:.0f} s"
                )
    finally:
        drop_database(server_url, "scorecard_bench_big")

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}×" if a and b else "n/a"

    table = [
        "| work items | scorecard: stage | process | peak RSS | through queries, no keys: stage | "
        "floor: GROUP BY | scorecard ÷ floor | no keys ÷ floor | pandas: stage | pandas peak RSS "
        "| pandas ÷ scorecard (time, memory) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, _generated, ours, keyless, floor_run, pandas_run in rows_out:
        table.append(
            f"| {rows:,} | {ours.stage_seconds:.2f} s | {ours.seconds:.2f} s | "
            f"{ours.peak_rss_mib:.0f} MiB | {keyless.stage_seconds:.2f} s | "
            f"{floor_run.stage_seconds:.2f} s | "
            f"{ratio(ours.stage_seconds, floor_run.stage_seconds)} | "
            f"{ratio(keyless.stage_seconds, floor_run.stage_seconds)} | "
            f"{pandas_run.stage_seconds:.2f} s | {pandas_run.peak_rss_mib:.0f} MiB | "
            f"{ratio(pandas_run.stage_seconds, ours.stage_seconds)}, "
            f"{ratio(pandas_run.peak_rss_mib, ours.peak_rss_mib)} |"
        )
    first, last = rows_out[0][2], rows_out[-1][2]
    growth = last.peak_rss_mib / first.peak_rss_mib - 1
    return [
        "## PostgreSQL at scale: extract+score against the floor and against pandas",
        "",
        f"The demo world generated at {', '.join(f'{r[0]:,}' for r in rows_out)} work items "
        "(`scorecard demo-data --scale`, followed by ANALYZE), as of "
        f"{AS_OF} with four quarters of history.",
        "",
        "- **scorecard**: `scorecard run --format csv` with the example config (so "
        "`parallel_queries = 2`: the work items are summed on two connections sharing one "
        "snapshot), best of 5. *Stage* is extract+score as the run logs it (reading, checking and "
        "summing in the database, then scoring); *process* adds starting Python and importing.",
        "- **through queries, no keys**: the same run with `[source.work_items]` and "
        '`[source.requests]` each a `query = "SELECT * FROM ..."`: a query has no primary key, so '
        "every ID goes through the duplicate check (a join to the IDs grouped once); best of 3.",
        "- **floor**: the database's own GROUP BY per vendor, process and day over the same rows "
        "with the same sums (count, units, defects, QA units, rework, turnaround, on time; and for "
        "requests count, answered, response time), without any checks; best of 5, each the faster "
        "of the planner's own plan and a hash aggregate.",
        "- **pandas**: `pandas.read_sql` of the raw rows of the window, then `groupby` with the same "
        "sums (no checks, no scoring); one run, whole process.",
        "",
        *table,
        "",
        f"Peak RSS of the scorecard process changes by {growth:+.1%} from "
        f"{rows_out[0][0]:,} to {rows_out[-1][0]:,} work items.",
        "",
    ]


ENGINE_DATA = ROOT / "bench" / "data"


def engine_url(engine: str, size: int, mariadb_server: str) -> str:
    tag = f"{size // 1_000_000}m" if size % 1_000_000 == 0 else str(size)
    if engine == "SQLite":
        return f"sqlite:///{ENGINE_DATA / f'sqlite-{tag}.db'}"
    if engine == "DuckDB":
        return f"duckdb:///{ENGINE_DATA / f'duckdb-{tag}.duckdb'}"
    return (
        make_url(mariadb_server)
        .set(database=f"scorecard_bench16_{tag}")
        .render_as_string(hide_password=False)
    )


def _has_world(url: str, size: int) -> bool:
    """The demo world is there already, at about this size (bench/data is reused between runs)."""
    try:
        return abs(work_items(url) - size) < size * 0.02
    except Exception:  # no file, no database or no table yet
        return False


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass
class EngineRun:
    engine: str
    work_items: int
    keys: float
    no_keys: float
    floor: float
    keys_rss: float
    no_keys_rss: float


def engines_at_scale(sizes: list[int], runs: int) -> list[str]:
    """Extract+score against each engine's own GROUP BY, side by side, with and without keys."""
    mariadb = os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    engines = os.environ.get("BENCH_ENGINES", "SQLite,MariaDB,DuckDB").split(",")
    ENGINE_DATA.mkdir(parents=True, exist_ok=True)
    results: list[EngineRun] = []
    skipped: list[str] = []  # BENCH_GENERATE=0: only the worlds bench/data already holds
    with tempfile.TemporaryDirectory(prefix="scorecard-bench-engines-") as work:
        for size in sizes:
            for engine in engines:
                url = engine_url(engine, size, mariadb)
                if engine == "MariaDB":
                    admin = create_engine(mariadb, isolation_level="AUTOCOMMIT")
                    with admin.connect() as connection:
                        name = make_url(url).database
                        connection.execute(text(f"CREATE DATABASE IF NOT EXISTS {name}"))
                    admin.dispose()
                if not _has_world(url, size) and os.environ.get("BENCH_GENERATE") == "0":
                    skipped.append(f"{engine} at {size:,}")
                    continue
                if not _has_world(url, size):
                    subprocess.run(demo_data_command(url, size / ITEMS_AT_SCALE_1), check=True,
                                   stdout=subprocess.DEVNULL)  # fmt: skip
                rows = work_items(url)
                out = Path(work) / "out"
                keyed = [*run_command(url, out), "--format", "csv"]
                keyless = [*run_command(url, out, _query_config(Path(work))), "--format", "csv"]
                floor_args = [sys.executable, __file__, "engine-floor", url]
                timings: dict[str, list[Measurement]] = {"keys": [], "no_keys": [], "floor": []}
                for _ in range(runs):  # alternating, so a busy moment falls on all three
                    timings["keys"].append(measure("keys", keyed))
                    timings["no_keys"].append(measure("no keys", keyless))
                    timings["floor"].append(measure("floor", floor_args))

                def stage(kind: str, taken: dict[str, list[Measurement]] = timings) -> float:
                    return _median([m.stage_seconds or m.seconds for m in taken[kind]])

                run = EngineRun(
                    engine, rows, stage("keys"), stage("no_keys"), stage("floor"),
                    max(m.peak_rss_mib for m in timings["keys"]),
                    max(m.peak_rss_mib for m in timings["no_keys"]),
                )  # fmt: skip
                print(
                    f"{engine:8} {rows:>10,} work items: keys {run.keys:.2f} s "
                    f"({run.keys / run.floor:.2f}x), no keys {run.no_keys:.2f} s "
                    f"({run.no_keys / run.floor:.2f}x), floor {run.floor:.2f} s; "
                    f"RSS {run.keys_rss:.0f} / {run.no_keys_rss:.0f} MiB",
                    flush=True,
                )
                results.append(run)
    table = [
        "| engine | work items | with keys: stage | ÷ floor | peak RSS | through queries, no keys: "
        "stage | ÷ floor | peak RSS | floor: GROUP BY |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {r.engine} | {r.work_items:,} | {r.keys:.2f} s | {r.keys / r.floor:.2f}× | "
            f"{r.keys_rss:.0f} MiB | {r.no_keys:.2f} s | {r.no_keys / r.floor:.2f}× | "
            f"{r.no_keys_rss:.0f} MiB | {r.floor:.2f} s |"
            for r in results
        ],
    ]
    return [
        "## SQLite, MariaDB and DuckDB: extract+score against each engine's own GROUP BY",
        "",
        f"The demo world at {', '.join(f'{s:,}' for s in sizes)} work items in each engine "
        "(generated once into bench/data and reused), as of "
        f"{AS_OF}. Medians of {runs} alternating runs (job with keys, job without, floor), each "
        "a process of its own. *Stage*: extract+score as the run logs it. *Floor*: the same sums "
        "per vendor, process and day in the engine's own GROUP BY, without any checks. "
        '*No keys*: work items and requests read through `query = "SELECT * FROM ..."`, so '
        "every ID goes through the duplicate check. Goal: every ratio at or under 1.5×; peak RSS "
        "within 25 % from the smallest to the largest size.",
        "",
        *table,
        "",
        *([f"Not measured (no world in bench/data, BENCH_GENERATE=0): {', '.join(skipped)}.", ""]
          if skipped else []),
    ]  # fmt: skip


def hundred_vendor_inputs(work: Path) -> ReportInputs:
    """The demo world's score table with each vendor cloned until there are 100 of them."""
    import polars as pl

    import scorecard

    url = f"sqlite:///{work / 'render.db'}"
    subprocess.run([*SCORECARD, "demo-data", "--database-url", url, "--scale", "0.2", "--through", AS_OF],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    config = scorecard.load_config(CONFIG, period="quarter")
    as_of = dt.date.fromisoformat(AS_OF)
    scores = scorecard.score(config, database_url=url, as_of=as_of)
    data, periods, table = scores.data, scores.periods, scores.scored.table

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
    big_data = dataclasses.replace(
        data, vendors=vendors, work_item_days=data.work_item_days.clear(),
        request_days=data.request_days.clear(),
        charges=clone(data.charges, copies, False).filter(pl.col("vendor_id").is_in(keep.implode())),
        data_quality=data.data_quality.clear(),
    )  # fmt: skip
    return ReportInputs(big_table, big_data, periods, config, as_of)


def render_benchmark(work: Path) -> list[str]:
    """100 vendors: time per page, speed-up over one process, time outside WeasyPrint."""
    from reports.build import RenderStats, render_reports

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


# What the job logs of its rendering (reports/build.py), read back by the vendor benchmark.
PORTFOLIO_LOG = re.compile(r"rendered the portfolio pack: (\d+) pages in ([0-9.]+) s")
SCORECARDS_LOG = re.compile(
    r"rendered (\d+) vendor scorecards .*?: (\d+) PDF pages in all, ([0-9.]+) s"
)
# The render's processes' peaks: the fork server's children (the portfolio's process, the
# scorecard workers) are not children of the run, so wait4 never counts them; they say their own.
MEMORY_LOG = re.compile(
    r"peak RSS: main process (\d+) MiB"
    r"(?:, portfolio process (\d+) MiB)?(?:, largest scorecard worker (\d+) MiB)?"
)
# Per outsourced vendor at this scale: about 600 work items over the six quarters.
VENDOR_BENCH_SCALE = 0.05


@dataclass
class VendorRun:
    vendors: int
    work_items: int
    seconds: float
    peak_rss_mib: float
    """The run's own process, over the whole run (wait4)."""
    documents: int
    pages: int
    render_seconds: float
    portfolio_pages: int
    portfolio_seconds: float
    portfolio_peak_rss_mib: float | None
    """The process that rendered the pack, when not the run's own."""
    worker_peak_rss_mib: float | None
    """The largest of the scorecard workers' peaks."""
    pack_alone_seconds: float
    """The pack rendered with nothing beside it: one process, one vendor's scorecards."""
    pack_alone_pages: int


def _pack_alone(work: Path, url: str, out: Path) -> tuple[int, float]:
    """(pages, seconds) of the pack when it renders alone: `reports.workers = 1` and
    `--vendor` one vendor, so no scorecard worker shares the cores with it."""
    config = work / "one-process.toml"
    config.write_text(re.sub(r"(?m)^\[reports\]$", "[reports]\nworkers = 1", CONFIG.read_text()))
    engine = create_engine(url)
    with engine.connect() as connection:
        first = connection.exec_driver_sql("SELECT MIN(vendor_id) FROM vendors").scalar_one()
    engine.dispose()
    ran = subprocess.run([*run_command(url, out, config), "--vendor", str(first)],
                         capture_output=True, text=True)  # fmt: skip
    found = PORTFOLIO_LOG.search(ran.stdout + ran.stderr)
    if ran.returncode not in (0, 1) or found is None:
        raise SystemExit(f"the pack alone failed:\n{ran.stdout}{ran.stderr}")
    shutil.rmtree(out, ignore_errors=True)
    return int(found.group(1)), float(found.group(2))


def vendor_run(work: Path, vendors: int) -> VendorRun:
    """Generate a world of `vendors` outsourced vendors, then time one whole `scorecard run`."""
    url = f"sqlite:///{work / f'vendors-{vendors}.db'}"
    subprocess.run([*SCORECARD, "demo-data", "--database-url", url, "--scale", f"{VENDOR_BENCH_SCALE}",
                    "--through", AS_OF, "--vendors", str(vendors), "--replace"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    out = work / f"out-{vendors}"
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(run_command(url, out), stdout=output, stderr=subprocess.STDOUT)
        # The run's own peak: its render processes come from the fork server, not counted here.
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        output.seek(0)
        printed = output.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"run at {vendors} vendors failed:\n{printed}")
    portfolio, scorecards = PORTFOLIO_LOG.search(printed), SCORECARDS_LOG.search(printed)
    memory = MEMORY_LOG.search(printed)
    if portfolio is None or scorecards is None or memory is None:
        raise SystemExit(f"run at {vendors} vendors logged no render figures:\n{printed}")
    result = VendorRun(
        vendors=vendors, work_items=work_items(url), seconds=elapsed,
        peak_rss_mib=usage.ru_maxrss / 1024, documents=int(scorecards.group(1)) + 1,
        pages=int(scorecards.group(2)), render_seconds=float(scorecards.group(3)),
        portfolio_pages=int(portfolio.group(1)), portfolio_seconds=float(portfolio.group(2)),
        portfolio_peak_rss_mib=_mib(memory.group(2)), worker_peak_rss_mib=_mib(memory.group(3)),
        pack_alone_seconds=0.0, pack_alone_pages=0,
    )  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    alone_pages, alone_seconds = _pack_alone(work, url, out)
    return dataclasses.replace(
        result, pack_alone_pages=alone_pages, pack_alone_seconds=alone_seconds
    )


def _mib(logged: str | None) -> float | None:
    return None if logged is None else float(logged)


def _mib_cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} MiB"


def vendor_benchmark(sizes: list[int]) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="scorecard-bench-vendors-"))
    runs = []
    try:
        for size in sizes:
            run = vendor_run(work, size)
            print(f"vendors {size}: {run}", file=sys.stderr)
            runs.append(run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return vendor_table(runs)


def vendor_table(runs: list[VendorRun]) -> list[str]:
    return [
        "## The whole job at 10, 100 and 1,000 vendors",
        "",
        f"`scorecard run` (all formats, `reports.workers` = every core) on the demo world cloned to "
        f"that many outsourced vendors plus three in-house teams (`demo-data --vendors N --scale "
        f"{VENDOR_BENCH_SCALE}`, SQLite), as of {AS_OF}. Peak RSS of each kind of process: the "
        "run's own (it reads, scores and writes), the one that renders the portfolio pack, and the "
        "largest of the scorecard workers. Documents: the portfolio pack, each vendor's internal "
        "scorecard and the vendor-facing one.",
        "",
        "| vendors | work items | wall time | peak RSS: run | portfolio | largest worker | documents "
        "| PDF pages | per vendor document | portfolio pages | portfolio render | per portfolio page |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {r.vendors:,} | {r.work_items:,} | {r.seconds:.1f} s | {r.peak_rss_mib:.0f} MiB | "
            f"{_mib_cell(r.portfolio_peak_rss_mib)} | {_mib_cell(r.worker_peak_rss_mib)} | "
            f"{r.documents:,} | {r.pages:,} | "
            f"{r.render_seconds / r.documents * 1000:.0f} ms | "
            f"{r.portfolio_pages} | {r.portfolio_seconds:.1f} s | "
            f"{r.portfolio_seconds / max(r.portfolio_pages, 1) * 1000:.0f} ms |"
            for r in runs
        ],
        "",
        "Per document: the render stage's wall time over the documents (the scorecards render in "
        "the worker processes while another renders the portfolio): wall time, not CPU time. "
        "Portfolio render: the pack alone, HTML and PDF, in its own process, beside the two "
        "scorecard workers on two cores. The run's peak RSS is "
        "what wait4 reports for it, over the whole run; the render processes are the fork server's "
        "children, so each logs its own peak (`peak RSS:` in the run's log).",
        "",
        "### The pack's render time against its pages, with nothing beside it",
        "",
        "The same world, `scorecard run --vendor <first vendor>` with `reports.workers = 1`: the "
        "pack renders in the run's own process with no scorecard worker sharing the cores, so its "
        "time is its own.",
        "",
        "| vendors | portfolio pages | portfolio render | per page |",
        "|---:|---:|---:|---:|",
        *[
            f"| {r.vendors:,} | {r.pack_alone_pages} | {r.pack_alone_seconds:.1f} s | "
            f"{r.pack_alone_seconds / max(r.pack_alone_pages, 1) * 1000:.0f} ms |"
            for r in runs
        ],
        "",
    ]


def _parquet_copy(duckdb_path: Path, folder: Path) -> None:
    """The DuckDB world's tables as Parquet files, times marked as UTC (what Spark reads)."""
    import duckdb

    from scorecard.schema import TABLES

    connection = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for name, table in TABLES.items():
            times = {c.name for c in table.columns if c.type.__class__.__name__ == "DateTime"}
            # Every column the world has: the canonical ones and those beyond them (the demo's
            # csat and contacts, which the example config's declared KPIs read).
            present = [row[0] for row in connection.execute(f"DESCRIBE {name}").fetchall()]
            columns = ", ".join(
                f"CAST({column} AS TIMESTAMPTZ) AS {column}" if column in times else column
                for column in present
            )
            (folder / name).mkdir(parents=True)
            target = folder / name / "part-0.parquet"
            connection.execute(
                f"COPY (SELECT {columns} FROM {name}) TO '{target}' (FORMAT parquet)"
            )
    finally:
        connection.close()


def _spark_tables(server: str, folder: Path) -> str:
    """A Spark database whose tables are the Parquet files (nothing copied into Spark)."""
    from scorecard.schema import TABLES

    engine = create_engine(f"{server}/default")
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE DATABASE IF NOT EXISTS scorecard_bench")
        for name in TABLES:
            connection.exec_driver_sql(
                f"CREATE TABLE scorecard_bench.{name} USING parquet LOCATION '{folder / name}'"
            )
    engine.dispose()
    return f"{server}/scorecard_bench"


# The engines of the Spark side-by-side, by the names BENCH_SPARK_ENGINES takes.
SPARK_BENCH_ENGINES = ("DuckDB", "PostgreSQL", "Spark local", "Spark cluster")


def spark_bench_engines(value: str | None) -> tuple[str, ...]:
    """BENCH_SPARK_ENGINES (comma-separated, default all): the engines the Spark side-by-side
    measures; DuckDB's world is made whatever it says (the Parquet files are copied from it)."""
    if not value:
        return SPARK_BENCH_ENGINES
    chosen = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in chosen if name not in SPARK_BENCH_ENGINES]
    if unknown or not chosen:
        raise SystemExit(
            f"BENCH_SPARK_ENGINES: unknown engine {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(SPARK_BENCH_ENGINES)}"
        )
    return chosen


def spark_side_by_side(
    sizes: list[int],
    postgresql: str,
    chosen: tuple[str, ...] = SPARK_BENCH_ENGINES,
    after_each_size: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """The same world on DuckDB, PostgreSQL and Spark SQL (local mode and a two-worker
    cluster, Parquet), each against its own GROUP BY: what running where the data already
    is costs on each engine. `chosen`: which of SPARK_BENCH_ENGINES to measure;
    `after_each_size` gets the results so far after each size (a long run interrupted keeps
    the sizes it finished)."""
    sys.path.insert(0, str(ROOT))  # the Thrift server starter of the tests
    from tests.spark_server import spark_submit, standalone_cluster, thrift_server

    submit = spark_submit() if {"Spark local", "Spark cluster"} & set(chosen) else None
    rows_out: list[tuple[int, str, Measurement, Measurement]] = []
    startup: list[float] = []
    cluster_startup: list[float] = []
    failed: list[str] = []
    loads = [os.getloadavg()[0]]  # 1-minute load average, before and after each engine
    finished: list[int] = []
    began = time.perf_counter()

    def report() -> list[str]:
        table = [
            "| work items | engine | scorecard: stage | process | peak RSS | floor: GROUP BY "
            "| scorecard ÷ floor |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for rows, kind, ours, floor_run in sorted(rows_out, key=lambda row: row[0]):
            ratio = (ours.stage_seconds or 0) / (floor_run.stage_seconds or 1)
            table.append(
                f"| {rows:,} | {kind} | {ours.stage_seconds:.2f} s | {ours.seconds:.2f} s | "
                f"{ours.peak_rss_mib:.0f} MiB | {floor_run.stage_seconds:.2f} s | {ratio:.2f}× |"
            )

        def seconds(taken: list[float]) -> str:
            return ", ".join(f"{s:.0f} s" for s in taken) or "not run"

        not_measured = [name for name in SPARK_BENCH_ENGINES if name not in chosen]
        unfinished = [f"{size:,}" for size in sizes[len(finished) :]]
        return [
            "## Engines side by side: DuckDB, PostgreSQL, Spark SQL (local mode and a 2-worker cluster)",
            "",
            "The same demo world (one seed) in a DuckDB file, in PostgreSQL, and as Parquet files "
            "registered as Spark tables (`CREATE TABLE ... USING parquet LOCATION`), read by Spark's "
            "Thrift server in local mode (`local[2]`, 2 GB driver) on this machine. *scorecard*: "
            "`scorecard run --format csv` with the example config, best of 3 (stage = extract+score "
            "as the run logs it; process adds Python's start-up; the Spark server is already "
            "running). *floor*: the engine's own GROUP BY with the same sums, best of 3. Peak RSS "
            "is the scorecard process's; Spark's JVM (the server, up to its 2 GB heap) is not in it. "
            "The cluster: a standalone master and two one-core workers (768 MB executors) on "
            "this same machine, its Thrift server their application (1 GB driver).",
            "",
            *table,
            "",
            *(
                [f"Not measured (BENCH_SPARK_ENGINES): {', '.join(not_measured)}.", ""]
                if not_measured
                else []
            ),
            *([f"Failed: {'; '.join(failed)}.", ""] if failed else []),
            *([f"Not measured yet: {', '.join(unfinished)} work items.", ""] if unfinished else []),
            (
                f"Starting Spark, before any query: the Thrift server in local mode "
                f"{seconds(startup)}; the cluster (master, two workers, then its Thrift server) "
                f"{seconds(cluster_startup)}."
                if submit is not None
                else "Spark not run (not chosen, or no Java or pyspark)."
            ),
            "",
            f"The whole part took {(time.perf_counter() - began) / 60:.0f} min of wall time; the "
            f"1-minute load average on the 2 cores went from {min(loads):.1f} to {max(loads):.1f} "
            "(other work on the machine slows every figure).",
            "",
        ]

    with tempfile.TemporaryDirectory(prefix="scorecard-bench-engines-") as work_dir:
        work = Path(work_dir)
        for size in sizes:
            scale = size / ITEMS_AT_SCALE_1
            world = work / f"world-{size}.duckdb"
            duckdb_url = f"duckdb:///{world}"
            measure("demo-data", demo_data_command(duckdb_url, scale))
            rows = work_items(duckdb_url)
            engines: list[tuple[str, str]] = [("DuckDB", duckdb_url)] if "DuckDB" in chosen else []
            pg_url = (
                own_database(postgresql, "scorecard_bench_engines")
                if "PostgreSQL" in chosen
                else None
            )
            if pg_url:
                subprocess.run(
                    demo_data_command(pg_url, scale), check=True, stdout=subprocess.DEVNULL
                )
                engines.append(("PostgreSQL", pg_url))
            folder = work / f"parquet-{size}"
            # In a process of its own: a child's peak RSS starts at its parent's (Linux).
            subprocess.run(
                [sys.executable, __file__, "parquet", str(world), str(folder)], check=True
            )
            with contextlib.ExitStack() as stack:
                if pg_url:
                    stack.callback(drop_database, postgresql, "scorecard_bench_engines")
                if submit is not None and "Spark local" in chosen:
                    (work / f"spark-{size}").mkdir()
                    started = time.perf_counter()
                    server = stack.enter_context(
                        thrift_server(submit, work / f"spark-{size}", driver_memory="2g")
                    )
                    startup.append(time.perf_counter() - started)
                    engines.append(("Spark SQL, local[2]", _spark_tables(server, folder)))
                if submit is not None and "Spark cluster" in chosen:
                    # The same files read by a standalone cluster: a master and two one-core
                    # workers on this machine, the Thrift server their application.
                    (work / f"cluster-{size}").mkdir()
                    started = time.perf_counter()
                    master, _ = stack.enter_context(
                        standalone_cluster(submit, work / f"cluster-{size}", worker_memory="1g")
                    )
                    on_cluster = stack.enter_context(
                        thrift_server(
                            submit, work / f"cluster-{size}", driver_memory="1g", master=master,
                            executor_memory="768m",
                        )
                    )  # fmt: skip
                    cluster_startup.append(time.perf_counter() - started)
                    engines.append(
                        ("Spark SQL, 2-worker cluster", _spark_tables(on_cluster, folder))
                    )
                for kind, url in engines:
                    run = [*run_command(url, work / "out"), "--format", "csv"]
                    try:
                        ours = best_of(3, "scorecard", run)
                        floor_run = best_of(3, "floor", [sys.executable, __file__, "floor", url])
                    except SystemExit as failure:  # one engine failing keeps the others' rows
                        failed.append(f"{kind} at {rows:,} work items: {str(failure)[:300]}")
                        _keep_spark_logs(work, size)
                        print(f"{kind} at {rows:,} work items FAILED: {failure}", file=sys.stderr)
                        continue
                    finally:
                        loads.append(os.getloadavg()[0])
                    rows_out.append((rows, kind, ours, floor_run))
                    print(
                        f"{kind:20} {rows:>11,} work items: scorecard stage "
                        f"{ours.stage_seconds:.2f} s (process {ours.seconds:.2f} s, "
                        f"{ours.peak_rss_mib:.0f} MiB), floor {floor_run.stage_seconds:.2f} s",
                        flush=True,
                    )
            finished.append(size)
            if after_each_size is not None:
                after_each_size(report())
    return report()


def _keep_spark_logs(work: Path, size: int) -> None:
    """The Spark servers' and daemons' logs of a failed size, kept in bench/data (git-ignored)."""
    kept = ENGINE_DATA / f"spark-logs-{size}"
    for log in [*work.glob(f"spark-{size}/*.log"), *work.glob(f"cluster-{size}/*.log")]:
        target = kept / log.parent.name / log.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)
    print(f"Spark logs kept in {kept}", file=sys.stderr)


QUIET_FULL, QUIET_NEXT = "2026-09-20", "2026-09-21"
PDF_COUNTS_LOG = re.compile(r"PDFs: (\d+) rendered, (\d+) reused")


def quiet_benchmark(sizes: list[int], runs: int) -> list[str]:
    """A full night against the quiet night after it (the next as-of day, no new data), at each
    number of vendors: wall time and CPU of the whole job (every process), median of `runs`."""
    work = Path(tempfile.mkdtemp(prefix="scorecard-bench-quiet-"))
    rows = []
    try:
        for size in sizes:
            url = f"sqlite:///{work / f'quiet-{size}.db'}"
            subprocess.run([*SCORECARD, "demo-data", "--database-url", url, "--scale",
                            f"{VENDOR_BENCH_SCALE}", "--through", QUIET_FULL, "--vendors", str(size),
                            "--replace"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            taken: dict[str, list[tuple[float, float]]] = {"full": [], "quiet": []}
            counts = ""
            for _ in range(runs):
                out = work / f"out-{size}"
                shutil.rmtree(out, ignore_errors=True)
                for kind, day in (("full", QUIET_FULL), ("quiet", QUIET_NEXT)):
                    command = [*SCORECARD, "run", "--config", str(CONFIG), "--database-url", url,
                               "--as-of", day, "--out", str(out), "--log-format", "text"]  # fmt: skip
                    cpu, wall, printed = cpu_of_tree(command)
                    taken[kind].append((wall, cpu))
                    found = PDF_COUNTS_LOG.search(printed)
                    if kind == "quiet" and found:
                        counts = f"{found.group(1)} rendered, {found.group(2)} reused"
                    print(f"quiet bench {size} vendors, {kind}: {wall:.1f} s, CPU {cpu:.1f} s",
                          file=sys.stderr)  # fmt: skip
            full_wall = _median([w for w, _ in taken["full"]])
            full_cpu = _median([c for _, c in taken["full"]])
            quiet_wall = _median([w for w, _ in taken["quiet"]])
            quiet_cpu = _median([c for _, c in taken["quiet"]])
            rows.append(
                f"| {size:,} | {full_wall:.1f} s | {full_cpu:.1f} s | {quiet_wall:.1f} s | "
                f"{quiet_cpu:.1f} s | {quiet_cpu / full_cpu:.0%} | {counts} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        "## A quiet night against a full one",
        "",
        f"`demo-data --vendors N --scale {VENDOR_BENCH_SCALE} --through {QUIET_FULL}`, the example "
        f"config (PDF and HTML, vendor-facing scorecards too). Full: a run as of {QUIET_FULL} "
        f"into an empty folder. Quiet: the run as of {QUIET_NEXT} after it, no new data (PDFs "
        "whose document did not change are the earlier run's). Wall time and CPU (user + "
        f"system, every process of the job), median of {runs} runs each. Load average "
        f"{os.getloadavg()[0]:.1f} (1 min) at the end.",
        "",
        "| vendors | full: wall | full: CPU | quiet: wall | quiet: CPU | quiet CPU / full | quiet night's PDFs |",
        "|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
    ]


def _write_results(file_name: str, title: str, lines: list[str]) -> None:
    header = f"# Benchmark results: {title}\n\nMeasured {dt.date.today()} on {platform.machine()}, "
    header += f"{os.cpu_count()} cores, Python {platform.python_version()}, by `make bench`.\n\n"
    (ROOT / "bench" / file_name).write_text(header + "\n".join(lines))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "engine-floor":
        engine_floor(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "weasyprint":
        weasyprint_alone(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] in ("floor", "pandas"):
        (floor if sys.argv[1] == "floor" else pandas_way)(sys.argv[2])
        return
    if len(sys.argv) == 4 and sys.argv[1] == "parquet":
        _parquet_copy(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parts = os.environ.get(
        "BENCH_PARTS", "scale,engines,demo,render,render-cpu,vendors,spark"
    ).split(",")
    if parts == ["year"]:  # a simulated year of nights: its own file, never in the default set
        import runpy

        runpy.run_path(str(ROOT / "bench" / "year.py"), run_name="__main__")
        return
    vendor_sizes = [int(s) for s in os.environ.get("BENCH_VENDORS", "10,100,1000").split(",")]
    vendor_lines = vendor_benchmark(vendor_sizes) if "vendors" in parts else []
    if vendor_lines:
        _write_results("RESULTS-vendors.md", "vendors", vendor_lines)
    spark_sizes = [
        int(s) for s in os.environ.get("BENCH_SPARK_SIZES", "1000000,10000000").split(",")
    ]
    load = os.getloadavg()[0]
    spark_engines = spark_bench_engines(os.environ.get("BENCH_SPARK_ENGINES"))

    def write_spark(lines: list[str]) -> None:
        # Other work on the machine slows every figure: the load says how busy it was.
        note = (
            f"Run as `BENCH_PARTS=spark BENCH_SPARK_SIZES={','.join(map(str, spark_sizes))} "
            f"BENCH_SPARK_ENGINES='{','.join(spark_engines)}' make bench`; the whole file is "
            f"written by that run. Load average {load:.1f} (1 min) when it started, "
            f"{os.getloadavg()[0]:.1f} when this was written.\n\n"
        )
        _write_results("RESULTS-spark.md", "Spark SQL beside DuckDB and PostgreSQL", [note, *lines])

    spark_lines = (
        spark_side_by_side(
            spark_sizes,
            os.environ.get("BENCH_POSTGRESQL_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"),
            spark_engines,
            after_each_size=write_spark,
        )
        if "spark" in parts
        else []
    )
    if spark_lines:
        write_spark(spark_lines)
    postgresql_sizes = [
        int(s) for s in os.environ.get("BENCH_SIZES", "1000000,4000000,10000000").split(",")
    ]
    postgresql_lines = (
        postgresql_at_scale(
            os.environ.get("BENCH_POSTGRESQL_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"),
            postgresql_sizes,
        )
        if "postgresql" in parts
        else []
    )
    if postgresql_lines:
        note = f"Load average {load:.1f} (1 min) when the benchmark started.\n\n"
        _write_results("RESULTS-postgresql.md", "PostgreSQL at scale", [note, *postgresql_lines])
    quiet_sizes = [int(s) for s in os.environ.get("BENCH_QUIET_VENDORS", "10,100").split(",")]
    if "quiet" in parts:
        quiet_lines = quiet_benchmark(quiet_sizes, int(os.environ.get("BENCH_RUNS", "3")))
        _write_results("RESULTS-quiet.md", "a quiet night", quiet_lines)
        print("\n".join(quiet_lines))
    if set(parts) <= {"vendors", "spark", "postgresql", "quiet"}:
        print("\n".join(vendor_lines + spark_lines + postgresql_lines))
        return
    quick = [p for p in parts if p in ("engines", "render-cpu")]
    engine_sizes = [
        int(s) for s in os.environ.get("BENCH_ENGINE_SIZES", "1000000,4000000").split(",")
    ]
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    engine_lines = engines_at_scale(engine_sizes, runs) if "engines" in parts else []
    cpu_lines: list[str] = []
    if "render-cpu" in parts:
        cpu_work = Path(tempfile.mkdtemp(prefix="scorecard-bench-cpu-"))
        try:
            cpu_lines = render_cpu_benchmark(cpu_work, runs)
        finally:
            shutil.rmtree(cpu_work, ignore_errors=True)
    if quick == parts:  # only these: their own file, the full results stay as they are
        header = (
            f"# Benchmark results: engines and render CPU\n\nMeasured {dt.date.today()} on "
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            "by `BENCH_PARTS=engines,render-cpu make bench`.\n\n"
        )
        (ROOT / "bench" / "RESULTS-engines.md").write_text(
            header + "\n".join([*engine_lines, *cpu_lines])
        )
        print("\n".join([*engine_lines, *cpu_lines]))
        return
    scales = [float(s) for s in os.environ.get("BENCH_SCALES", "1,4").split(",")]
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,4000000,10000000").split(",")]
    postgresql = os.environ.get(
        "BENCH_POSTGRESQL_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
    )
    scale_lines = postgresql_at_scale(postgresql, sizes)
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
        "",
        *scale_lines,
        *engine_lines,
        *cpu_lines,
        "## Demo scales: SQLite and PostgreSQL",
        "",
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
        *vendor_lines,
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
