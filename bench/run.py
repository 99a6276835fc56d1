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
    ]
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
