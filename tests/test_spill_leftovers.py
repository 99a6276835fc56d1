"""A DuckDB run that was killed leaves its spill folder in TMPDIR: the next run removes it,
and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from extract.source import remove_dead_spill_folders
from tests.builders import load

KILLED_RUN = """
import sys, time
from extract.source import open_engine, read_only_connection
engine = open_engine(sys.argv[1], read_only=True)
with read_only_connection(engine) as connection:
    connection.exec_driver_sql("SELECT 1").fetchall()
    print("connected", flush=True)
    time.sleep(60)
"""


def test_a_killed_duckdb_runs_spill_folder_is_removed_by_the_next_run(tmp_path):
    url = f"duckdb:///{tmp_path / 'source.duckdb'}"
    load(url, {})
    spill = tmp_path / "tmp"
    spill.mkdir()
    env = {**os.environ, "TMPDIR": str(spill)}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, url], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "connected"
    process.send_signal(signal.SIGKILL)  # no atexit: the folder stays
    process.wait()
    (left,) = spill.glob("scorecard-duckdb-*")
    # Not the job's: another program's folder, a look-alike file, a live process's folder.
    other = spill / "scorecard-duckdb-notes"
    other.mkdir()
    alive = spill / f"scorecard-duckdb-{os.getpid()}-abc"
    alive.mkdir()
    started = time.perf_counter()
    assert remove_dead_spill_folders(str(spill)) == [str(left)]
    assert time.perf_counter() - started < 5
    assert sorted(p.name for p in spill.iterdir()) == sorted([other.name, alive.name])
