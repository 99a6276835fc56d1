"""The email journal under real faults: SIGKILL at each step of sending, a full disk, a bad address.

Each fault is followed by a rerun; a real SMTP server (aiosmtpd) counts what it
received: every message exactly once, never twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from output.email import read_journal
from tests.builders import item, load, vendor
from tests.test_email import smtp_on_loopback
from tests.test_nightly import _config as nightly_config
from tests.test_nightly import tiny_disk  # noqa: F401  (a fixture: a real tmpfs)

AS_OF = "2026-09-30"
MANAGERS = [f"manager-{n}@example.com" for n in range(1, 5)]


def _rows(managers: list[str]) -> dict:
    ids = [f"V{n}" for n in range(1, len(managers) + 1)]
    return {
        "vendors": [
            vendor(v, name=f"Vendor {v}", manager_email=m)
            for v, m in zip(ids, managers, strict=True)
        ],
        "work_items": [
            item(f"{v}-1", v, "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
            for v in ids
        ],
    }


class CountingServer:
    """Counts every message it received per recipient; can kill the run or fill its disk on cue."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.kill: tuple[str, int] | None = None  # ("MAIL" or "DATA", nth message)
        self.pid: int | None = None
        self.on_data: dict[int, object] = {}
        self.mails = 0
        self.datas = 0

    def _maybe_kill(self, step: str, count: int) -> None:
        if self.kill == (step, count) and self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails += 1
        self._maybe_kill("MAIL", self.mails)
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.datas += 1
        for recipient in envelope.rcpt_tos:
            self.received[recipient] += 1
        self._maybe_kill("DATA", self.datas)  # the message arrived; the run dies before "250"
        action = self.on_data.get(self.datas)
        if callable(action):
            action()
        return "250 OK"


@pytest.fixture
def smtp():
    handler = CountingServer()
    with smtp_on_loopback(handler) as port:
        yield port, handler


def _config(folder: Path, port: int) -> Path:
    """The nightly tests' mail settings, rendering in this process (no worker to outlive a kill)."""
    config = nightly_config(folder, port)
    config.write_text(config.read_text() + "[reports]\nworkers = 1\n")
    return config


def _command(config: Path, url: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "scorecard.cli", "run", "--config", str(config), "--database-url", url,
            "--as-of", AS_OF, "--out", str(out), "--format", "html", "--send"]  # fmt: skip


@pytest.mark.integration  # a real process, killed at each step of sending
@pytest.mark.parametrize(
    "kill",
    [("DATA", 1), ("DATA", 2), ("DATA", 4), ("MAIL", 2), ("MAIL", 3)],
    ids=lambda k: f"{k[0]}-{k[1]}",
)
def test_a_run_killed_at_any_step_of_sending_sends_nothing_twice(smtp, sqlite_url, tmp_path, kill):
    port, server = smtp
    load(sqlite_url, _rows(MANAGERS))
    out = tmp_path / "out"
    command = _command(_config(tmp_path, port), sqlite_url, out)
    server.kill = kill
    victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server.pid = victim.pid
    victim.communicate(timeout=300)
    assert victim.returncode == -signal.SIGKILL
    server.kill = None

    rerun = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    in_doubt = [
        e["rcpt"]
        for e in read_journal(out / f"{AS_OF}.emails.jsonl").values()
        if e["event"] == "data"
    ]
    if kill[0] == "DATA":
        # Killed after the server had the message and before it said so: in doubt, not resent.
        assert rerun.returncode == 1, rerun.stderr
        assert in_doubt == [[MANAGERS[kill[1] - 1]]]
        assert "in doubt" in rerun.stderr
    else:
        assert rerun.returncode == 0, rerun.stderr
        assert in_doubt == []
    assert server.received == Counter(dict.fromkeys(MANAGERS, 1)), server.received
    statuses = Counter(
        e["status"] for e in json.loads((out / AS_OF / "manifest.json").read_text())["emails"]
    )
    assert statuses["sent"] + statuses["already sent"] + statuses["in doubt"] == len(MANAGERS)


def test_a_disk_that_fills_after_the_second_message_sends_nothing_twice(
    smtp,
    tiny_disk,  # noqa: F811
    tmp_path,
    scorecard_cli,
):
    port, server = smtp
    url = f"sqlite:///{tmp_path / 'source.db'}"
    load(url, _rows(MANAGERS))
    out = tiny_disk / "out"
    filler = tiny_disk / "filler"

    def fill_the_disk() -> None:
        handle = filler.open("wb", buffering=0)
        try:
            while handle.write(b"\0" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            handle.close()

    server.on_data[2] = fill_the_disk
    first = scorecard_cli.run(
        url, out, "--format", "html", "--send", config=_config(tmp_path, port)
    )
    assert first.exit_code == 1, (first.output, first.exception)
    assert "No space left on device" in first.stderr.strip().splitlines()[-1]
    # The journal may still append within its last allocated block: maybe one more went.
    assert sum(server.received.values()) >= 2
    filler.unlink()
    server.on_data.clear()
    rerun = scorecard_cli.run(
        url, out, "--format", "html", "--send", config=_config(tmp_path, port)
    )
    assert rerun.exit_code in (0, 1), (rerun.output, rerun.exception)
    assert server.received == Counter(dict.fromkeys(MANAGERS, 1)), server.received
    assert (out / AS_OF / "manifest.json").exists()


def test_a_bad_address_fails_that_message_only_and_nothing_goes_twice(
    smtp, sqlite_url, tmp_path, scorecard_cli
):
    port, server = smtp
    managers = ["good-1@example.com", "x@example.com.", "a@@b", "good-2@example.com"]
    load(sqlite_url, _rows(managers))
    config = _config(tmp_path, port)
    for _ in range(2):
        result = scorecard_cli.run(
            sqlite_url, tmp_path / "out", "--format", "html", "--send", config=config
        )
        assert result.exit_code == 1, (result.output, result.exception)
        (line,) = [ln for ln in result.stderr.splitlines() if "emails failed" in ln]
        assert "2 of 4 emails failed" in line
    assert server.received == Counter({"good-1@example.com": 1, "good-2@example.com": 1})
    emails = json.loads((tmp_path / "out" / AS_OF / "manifest.json").read_text())["emails"]
    assert sorted(e["status"] for e in emails) == [
        "already sent",
        "already sent",
        "failed",
        "failed",
    ]


def test_nothing_is_sent_when_the_journal_cannot_be_written(smtp, tiny_disk, tmp_path):  # noqa: F811
    from output.email import send_all
    from reports.messages import Message
    from scorecard.config import EmailConfig

    port, server = smtp
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "a.html").write_text("<p>a</p>")
    (run_dir / "b.html").write_text("<p>b</p>")
    mails = [
        Message((m,), "s", "b", Path(name))
        for m, name in zip(MANAGERS, ["a.html", "b.html"], strict=False)
    ]
    (tiny_disk / "filler").write_bytes(
        b"\0" * (os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize)
    )
    config = EmailConfig(smtp_host="127.0.0.1", smtp_port=port, sender="s@example.com")
    records = send_all(mails, config, run_dir, journal_path=tiny_disk / "journal.jsonl")
    assert sum(server.received.values()) == 0
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all("cannot write the email journal" in r["error"] for r in records)
