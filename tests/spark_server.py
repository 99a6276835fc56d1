"""A real Apache Spark SQL engine for the tests: its Thrift JDBC/ODBC server in local mode.

Started once per test session from the installed `pyspark` (the same engine a cluster
runs), bound to 127.0.0.1 with a throwaway warehouse and metastore, and stopped at the
end. Each test gets its own Spark database. Without Java or pyspark the tests skip
with the reason; under CI=true they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

STARTUP_SECONDS = 240


def _unavailable(reason: str) -> None:
    message = f"Spark SQL tests need {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: they must run, not skip)")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spark_submit() -> Path | None:
    try:
        import pyspark
    except ImportError:
        return None
    script = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    return script if script.exists() else None


def _wait_until_serving(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Spark Thrift server exited with {process.returncode}:\n{tail}")
        if "HiveThriftServer2 started" in log.read_text(errors="replace"):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                pass
        time.sleep(1)
    raise RuntimeError(f"the Spark Thrift server did not start in {STARTUP_SECONDS} s (log: {log})")


@contextmanager
def thrift_server(
    submit: Path,
    home: Path,
    driver_memory: str = "1g",
    master: str = "local[2]",
    executor_memory: str = "512m",
) -> Iterator[str]:
    """hive://127.0.0.1:PORT while the block runs: Spark's Thrift server, in local mode or as
    the application of a cluster's `master` (spark://...), under `home` (warehouse,
    metastore, log), stopped with its JVM at the end. Also for `make bench`."""
    port = _free_port()
    log = home / "server.log"
    on_cluster = [
        "--conf", f"spark.executor.memory={executor_memory}", "--conf", "spark.executor.cores=1",
        "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
    ] if master.startswith("spark://") else []  # fmt: skip
    command = [
        str(submit), "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--master", master, "--name", "scorecard-tests", *on_cluster,
        "--conf", f"spark.sql.warehouse.dir={home / 'warehouse'}",
        "--conf", "spark.ui.enabled=false",
        "--conf", f"spark.driver.memory={driver_memory}",
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={home / 'derby'}",
        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
        "--hiveconf", f"hive.server2.thrift.port={port}",
        "--hiveconf", f"javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={home / 'metastore'};create=true",
        "spark-internal",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=home, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            env=_LOOPBACK_ENV,
        )  # fmt: skip
    try:
        _wait_until_serving(process, port, log)
        yield f"hive://127.0.0.1:{port}"
    finally:
        _stop(process)


# Every Spark process binds to the loopback address only. (The launcher gives the Thrift
# server SPARK_DAEMON_MEMORY as its heap when set: only the cluster's daemons get it.)
_LOOPBACK_ENV = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}


def _stop(process: subprocess.Popen[bytes]) -> None:
    # spark-submit and spark-class start the JVM as a child: stop the whole process group.
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _daemon(spark_class: Path, home: Path, name: str, *arguments: str) -> subprocess.Popen[bytes]:
    with (home / f"{name}.log").open("wb") as output:
        return subprocess.Popen(
            [str(spark_class), *arguments], cwd=home, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
            # No daemon gets more heap than it needs: the machine is small and shared.
            env={**_LOOPBACK_ENV, "SPARK_DAEMON_MEMORY": "256m",
                 "SPARK_WORKER_DIR": str(home / name)},
        )  # fmt: skip


def _alive_workers(web_port: int) -> int:
    """How many workers the master counts as ALIVE (its own JSON status page, on loopback)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=2) as page:
            status = json.load(page)
    except (OSError, ValueError):
        return 0
    return sum(1 for worker in status.get("workers", []) if worker.get("state") == "ALIVE")


@contextmanager
def standalone_cluster(
    submit: Path, home: Path, workers: int = 2, worker_memory: str = "768m"
) -> Iterator[tuple[str, int]]:
    """(spark://127.0.0.1:PORT, the master's status port) while the block runs: a standalone
    Spark master and `workers` workers of one core each, every one its own JVM, all on
    127.0.0.1 (pyspark ships `spark-class`), stopped at the end."""
    spark_class = submit.parent / "spark-class"
    port, web_port = _free_port(), _free_port()
    master = f"spark://127.0.0.1:{port}"
    processes = [
        _daemon(spark_class, home, "master", "org.apache.spark.deploy.master.Master",
                "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web_port))
    ]  # fmt: skip
    try:
        for number in range(workers):
            processes.append(
                _daemon(spark_class, home, f"worker-{number}",
                        "org.apache.spark.deploy.worker.Worker", master, "--host", "127.0.0.1",
                        "--cores", "1", "--memory", worker_memory,
                        "--webui-port", str(_free_port()))
            )  # fmt: skip
        deadline = time.monotonic() + STARTUP_SECONDS
        while _alive_workers(web_port) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                logs = {f.name: f.read_text(errors="replace")[-1500:] for f in home.glob("*.log")}
                raise RuntimeError(f"the Spark cluster did not come up: {logs}")
            time.sleep(1)
        yield master, web_port
    finally:
        for process in reversed(processes):
            _stop(process)


def spark_submit() -> Path | None:
    """The spark-submit script of the installed pyspark, None without pyspark or Java."""
    return _spark_submit() if shutil.which("java") is not None else None


@pytest.fixture(scope="session")
def spark_server(tmp_path_factory) -> Iterator[str]:
    """hive://127.0.0.1:PORT: a Spark Thrift server in local mode for the whole session."""
    submit = _spark_submit()
    if shutil.which("java") is None:
        _unavailable("Java (17 or newer) on the PATH")
    if submit is None:
        _unavailable("the pyspark package (make test installs it)")
    assert submit is not None
    with thrift_server(submit, tmp_path_factory.mktemp("spark")) as url:
        yield url


@pytest.fixture
def spark_url(spark_server: str) -> Iterator[str]:
    """A fresh Spark database on the session's server, dropped after the test."""
    from sqlalchemy import create_engine, text

    name = f"scorecard_{uuid.uuid4().hex[:12]}"
    engine = create_engine(f"{spark_server}/default")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"{spark_server}/{name}"
    finally:
        with engine.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} CASCADE"))
        engine.dispose()


@pytest.fixture(scope="session")
def spark_cluster_server(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """(hive://127.0.0.1:PORT, the master's status port): a Thrift server whose queries run
    on a standalone cluster of a master and two one-core workers, for the whole session."""
    submit = _spark_submit()
    if shutil.which("java") is None:
        _unavailable("Java (17 or newer) on the PATH")
    if submit is None:
        _unavailable("the pyspark package (make test installs it)")
    assert submit is not None
    home = tmp_path_factory.mktemp("spark-cluster")
    with (
        standalone_cluster(submit, home) as (master, web_port),
        thrift_server(submit, home, driver_memory="768m", master=master) as url,
    ):
        yield url, web_port
