"""A real Apache Spark SQL engine for the tests: its Thrift JDBC/ODBC server in local mode.

Started once per test session from the installed `pyspark` (the same engine a cluster
runs), bound to 127.0.0.1 with a throwaway warehouse and metastore, and stopped at the
end. Each test gets its own Spark database. Without Java or pyspark the tests skip
with the reason; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
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
def thrift_server(submit: Path, home: Path, driver_memory: str = "1g") -> Iterator[str]:
    """hive://127.0.0.1:PORT while the block runs: Spark's Thrift server in local mode, under
    `home` (warehouse, metastore, log), stopped with its JVM at the end. Also for `make bench`."""
    port = _free_port()
    log = home / "server.log"
    command = [
        str(submit), "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "--master", "local[2]", "--name", "scorecard-tests",
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
            command, cwd=home, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_serving(process, port, log)
        yield f"hive://127.0.0.1:{port}"
    finally:
        # spark-submit starts the JVM as a child: stop the whole process group.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)


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
