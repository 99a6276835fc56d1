"""Shared fixtures: real databases (SQLite, PostgreSQL, MariaDB), no mocks.

PostgreSQL and MariaDB tests use the servers named by SCORECARD_TEST_POSTGRESQL_URL
and SCORECARD_TEST_MARIADB_URL (defaults: this machine's local servers). Each test
gets its own fresh database. Without a server they skip with the reason; under
CI=true they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SERVERS = {
    "postgresql": os.environ.get(
        "SCORECARD_TEST_POSTGRESQL_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "SCORECARD_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}


def _unavailable(kind: str, reason: str) -> None:
    message = (
        f"{kind} server not reachable at {make_url(SERVERS[kind]).render_as_string()}: {reason}"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: database tests must run, not skip)")
    pytest.skip(message)


def _fresh_database(kind: str) -> Iterator[str]:
    admin_url = make_url(SERVERS[kind])
    name = f"scorecard_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # any driver or connection failure means: no server here
        _unavailable(kind, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            if kind == "postgresql":
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'source.db'}"


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    yield from _fresh_database("postgresql")


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    yield from _fresh_database("mariadb")


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'source.duckdb'}"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb", "duckdb"])
def any_database_url(request, tmp_path) -> Iterator[str]:
    """The same test on each real dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}"
    elif request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'source.duckdb'}"
    else:
        yield from _fresh_database(request.param)


AS_OF = "2026-09-30"
"""The as-of day most tests run on: the end of a quarter of their small worlds."""


class ScorecardCommand:
    """The `scorecard` command, run in this process through click's CliRunner: every test that
    runs the command goes through here, so they all see it as a user's shell would (exit code,
    stdout, stderr), and none keeps a wrapper of its own."""

    def __call__(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Result:
        """`scorecard ARGS...`; env: variables to set (or, with None as a value, unset)."""
        from scorecard.cli import cli

        return CliRunner().invoke(cli, [os.fspath(a) for a in args], env=env)

    def run(
        self,
        database_url: str,
        out: os.PathLike[str] | str,
        *extra: str | os.PathLike[str],
        config: os.PathLike[str] | str | None = None,
        as_of: str = AS_OF,
        env: dict[str, str] | None = None,
    ) -> Result:
        """`scorecard run --database-url URL --as-of AS_OF --out OUT [--config FILE] EXTRA...`"""
        given = ["--config", config] if config is not None else []
        return self("run", *given, "--database-url", database_url, "--as-of", as_of,
                    "--out", out, *extra, env=env)  # fmt: skip


@pytest.fixture(scope="session")
def scorecard_cli() -> ScorecardCommand:
    return ScorecardCommand()


# A test that uses one of these runs a server, the whole command or a second process: it is
# an integration test. The rest are the unit half (`make test-unit`, seconds).
INTEGRATION_FIXTURES = {
    "postgresql_url", "mariadb_url", "any_database_url", "spark_url", "spark_server",
    "spark_cluster_server",
    "scorecard_cli",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & INTEGRATION_FIXTURES or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def text_logs(monkeypatch):
    """Tests read the text log format; test_log.py covers JSON and the automatic choice."""
    monkeypatch.setenv("SCORECARD_LOG_FORMAT", "text")


# Apache Spark SQL: one local Thrift server for the session, a fresh database per test.
from tests.spark_server import spark_cluster_server, spark_server, spark_url  # noqa: E402, F401


@pytest.fixture(scope="session", autouse=True)
def _no_stale_data_gate_for_the_session() -> Iterator[None]:
    """Most tests score fixed, months-old rows: the stale-data gate (run.max_data_age_hours,
    default 72 h) is off for them, through the environment so subprocesses see it too, and
    for the whole session, so module-scoped fixtures that run the job see it as well."""
    before = os.environ.get("SCORECARD_MAX_DATA_AGE_HOURS")
    os.environ["SCORECARD_MAX_DATA_AGE_HOURS"] = "0"
    yield
    if before is None:
        os.environ.pop("SCORECARD_MAX_DATA_AGE_HOURS", None)
    else:
        os.environ["SCORECARD_MAX_DATA_AGE_HOURS"] = before


@pytest.fixture(autouse=True)
def _stale_data_gate_when_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test marked `stale_gate` runs with the real default (72 h)."""
    if request.node.get_closest_marker("stale_gate") is not None:
        monkeypatch.delenv("SCORECARD_MAX_DATA_AGE_HOURS", raising=False)
