"""Issue 27 point 7: one document that fails or hangs while rendering does not stop the night.
The others are written, checked and sent; the failed one is absent, named, not sent, and the
next run sends it. Real renders (WeasyPrint), one process, a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import email
import json
import time
from email import policy
from pathlib import Path
from typing import Any

import pytest

import reports.build
import scorecard
from tests.builders import item, load, vendor
from tests.test_email import smtp_on_loopback

CLOSE = dt.date(2026, 9, 30)  # the last day of September: this run closes the month
VENDORS = ("A", "B", "C")


def _rows() -> dict[str, Any]:
    return {
        "vendors": [
            vendor(v, name=f"Vendor {v}", manager_email=f"owner-{v.lower()}@example.com")
            for v in VENDORS
        ],
        "work_items": [
            item(
                f"{v}{n}",
                v,
                f"2026-09-{n:02d} 08:00",
                f"2026-09-{n:02d} 20:00",
                f"2026-09-{n:02d} 12:00",
                qa=1,
            )
            for v in VENDORS
            for n in range(1, 6)
        ],
    }


class Recorder:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self) -> list[str]:
        return sorted(str(m["To"]) for m in self.messages)


@pytest.fixture
def smtp():
    recorder = Recorder()
    with smtp_on_loopback(recorder) as port:
        yield port, recorder


def _config(tmp_path: Path, port: int, reports_extra: str = "", workers: int = 1) -> Any:
    path = tmp_path / "scorecard.toml"
    path.write_text(
        '[run]\nformats = ["pdf", "csv"]\n'
        f"[reports]\nworkers = {workers}\nvendor_facing = false\n{reports_extra}\n"
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsender = "sc@example.com"\n'
        'portfolio_recipients = ["cfo@example.com"]\nretry_delay_seconds = 0.01\n'
    )
    return scorecard.load_config(path, output_dir=tmp_path / "out")


def _failing(monkeypatch, vendor_id: str | None, how: str) -> None:
    """build_vendor (or, vendor_id None, build_portfolio) raises or hangs for that document."""
    name = "build_portfolio" if vendor_id is None else "build_vendor"
    real = getattr(reports.build, name)

    def broken(inputs, *args, **kwargs):
        if vendor_id is None or args[0] == vendor_id:
            if how == "hang":
                time.sleep(60)
            raise RuntimeError("the layout engine gave up")
        return real(inputs, *args, **kwargs)

    monkeypatch.setattr(reports.build, name, broken)


def _manifest(run: scorecard.api.RunResult) -> dict[str, Any]:
    return json.loads((run.run_dir / "manifest.json").read_text("utf-8"))


@pytest.mark.parametrize("how", ["raise", "hang"])
def test_one_scorecard_that_fails_leaves_the_night_going(
    sqlite_url, tmp_path, smtp, monkeypatch, how
):
    port, recorder = smtp
    load(sqlite_url, _rows())
    config = _config(tmp_path, port, "render_timeout_seconds = 8")
    _failing(monkeypatch, "B", how)
    started = time.monotonic()
    run = scorecard.run(config, database_url=sqlite_url, as_of=CLOSE, send=True)
    assert time.monotonic() - started < 55  # the hang was stopped at its limit, not waited out

    assert run.exit_code == 1
    [line] = [p for p in run.problems if "was not rendered" in p] or [run.problems]
    assert len(run.problems) == 1, run.problems
    assert line.startswith("the scorecard of B (vendors/vendor-b_b.pdf) was not rendered: ")
    assert (
        "longer than its limit of 8 s" if how == "hang" else "the layout engine gave up"
    ) in line
    assert not (run.run_dir / "vendors" / "vendor-b_b.pdf").exists()
    assert (run.run_dir / "vendors" / "vendor-a_a.pdf").is_file()
    assert (run.run_dir / "vendors" / "vendor-c_c.pdf").is_file()
    assert (run.run_dir / "portfolio.pdf").is_file()
    assert (run.run_dir / "scores.csv").is_file()
    assert line in _manifest(run)["problems"]
    # No email for B; everyone else's went.
    assert recorder.to() == ["cfo@example.com", "owner-a@example.com", "owner-c@example.com"]

    # The next run (a rerun of the day, nothing failing) renders and sends B's, and only B's.
    monkeypatch.undo()
    again = scorecard.run(config, database_url=sqlite_url, as_of=CLOSE, send=True)
    assert again.exit_code == 0, again.problems
    assert (again.run_dir / "vendors" / "vendor-b_b.pdf").is_file()
    assert recorder.to() == sorted(
        ["cfo@example.com", "owner-a@example.com", "owner-b@example.com", "owner-c@example.com"]
    )


def test_a_failed_scorecard_is_owed_to_the_next_night(sqlite_url, tmp_path, smtp, monkeypatch):
    """The run that closes September cannot render B's: the next night (October 1st, nothing
    new to alert about) still sends B its scorecard, and nobody else gets anything."""
    port, recorder = smtp
    load(sqlite_url, _rows())
    config = _config(tmp_path, port)
    _failing(monkeypatch, "B", "raise")
    assert scorecard.run(config, database_url=sqlite_url, as_of=CLOSE, send=True).exit_code == 1
    assert "owner-b@example.com" not in recorder.to()
    monkeypatch.undo()
    night = scorecard.run(config, database_url=sqlite_url, as_of=CLOSE + dt.timedelta(days=1),
                          send=True)  # fmt: skip
    assert night.exit_code == 0, night.problems
    assert recorder.to() == sorted(
        ["cfo@example.com", "owner-a@example.com", "owner-b@example.com", "owner-c@example.com"]
    )
    # Settled: the night after owes nothing and sends nothing.
    scorecard.run(config, database_url=sqlite_url, as_of=CLOSE + dt.timedelta(days=2), send=True)
    assert len(recorder.messages) == 4


def test_the_pack_failing_does_not_stop_the_vendor_emails(sqlite_url, tmp_path, smtp, monkeypatch):
    port, recorder = smtp
    load(sqlite_url, _rows())
    config = _config(tmp_path, port)
    _failing(monkeypatch, None, "raise")
    run = scorecard.run(config, database_url=sqlite_url, as_of=CLOSE, send=True)
    assert run.exit_code == 1
    assert any(
        p.startswith("the portfolio pack (portfolio.pdf) was not rendered") for p in run.problems
    )
    assert not (run.run_dir / "portfolio.pdf").exists()
    assert recorder.to() == ["owner-a@example.com", "owner-b@example.com", "owner-c@example.com"]


def test_every_render_in_worker_processes_has_its_limit(sqlite_url, tmp_path, smtp):
    """With render processes, a limit no render can meet leaves every document out, the pack
    included (its limit set apart), and the run still publishes its tables and says so."""
    port, recorder = smtp
    load(sqlite_url, _rows())
    limits = "render_timeout_seconds = 0.001\nportfolio_render_timeout_seconds = 0.001"
    config = _config(tmp_path, port, limits, workers=2)
    run = scorecard.run(config, database_url=sqlite_url, as_of=CLOSE, send=True)
    assert run.exit_code == 1
    failed = [p for p in run.problems if "was not rendered" in p]
    assert len(failed) == 4  # three scorecards and the pack
    assert all("longer than its limit of 0.001 s" in p for p in failed)
    assert not list(run.run_dir.rglob("*.pdf"))
    assert (run.run_dir / "scores.csv").is_file()
    assert recorder.messages == []


def test_the_pack_limit_grows_with_the_vendors_unless_set():
    config = scorecard.load_config(None)
    assert config.reports.portfolio_timeout(100) == config.reports.render_timeout_seconds + 100
    fixed = config.reports.model_copy(update={"portfolio_render_timeout_seconds": 42.0})
    assert fixed.portfolio_timeout(100) == 42.0
