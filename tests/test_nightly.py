"""Nightly operation with real faults: flaky and refusing SMTP servers, reruns, a killed run."""

from __future__ import annotations

import email
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.builders import item, load, vendor
from tests.mounts import tmpfs
from tests.test_email import _free_port

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A", name="Acme Offshore", manager_email="owner-a@example.com")],
    "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
    ],
}


class ScriptedServer:
    """Answers DATA with the scripted replies in turn, then 250; records what it accepted."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.calls = 0
        self.accepted: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.calls += 1
        if self.replies:
            return self.replies.pop(0)
        self.accepted.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def server():
    started = []

    def start(replies: list[str]) -> tuple[int, ScriptedServer]:
        handler = ScriptedServer(replies)
        controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
        controller.start()
        started.append(controller)
        return controller.port, handler

    yield start
    for controller in started:
        controller.stop()


def _config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "nightly.toml"
    config.write_text(
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsender = "scorecards@example.com"\n'
        "retry_delay_seconds = 0.01\nattempts = 3\n"
    )
    return config


SEND_HTML = ("--format", "html", "--send")
"""The `scorecard run` options of most tests here: HTML documents, emailed."""


def _emails(out: Path) -> list[dict]:
    return json.loads((out / AS_OF / "manifest.json").read_text())["emails"]


@pytest.mark.parametrize(
    "reply", ["421 Service not available, try later", "451 Local error in processing"]
)
def test_a_4xx_reply_is_retried_and_the_message_arrives_once(
    server, sqlite_url, tmp_path, scorecard_cli, reply
):
    port, handler = server([reply])
    load(sqlite_url, ROWS)
    result = scorecard_cli.run(
        sqlite_url, tmp_path / "out", *SEND_HTML, config=_config(tmp_path, port)
    )
    assert result.exit_code == 0, result.output
    assert handler.calls == 2 and len(handler.accepted) == 1
    (record,) = _emails(tmp_path / "out")
    assert (record["status"], record["attempts"]) == ("sent", 2)


def test_a_550_reply_is_not_retried_and_the_run_exits_1(
    server, sqlite_url, tmp_path, scorecard_cli
):
    port, handler = server(["550 No such user here"] * 3)
    load(sqlite_url, ROWS)
    result = scorecard_cli.run(
        sqlite_url, tmp_path / "out", *SEND_HTML, config=_config(tmp_path, port)
    )
    assert result.exit_code == 1
    assert handler.calls == 1 and handler.accepted == []
    (record,) = _emails(tmp_path / "out")
    assert record["status"] == "failed" and record["permanent"] is True
    assert "550" in record["error"]
    assert (tmp_path / "out" / AS_OF / "vendors" / "acme-offshore_a.html").exists()


def test_a_rerun_sends_nothing_twice_and_a_corrected_rerun_sends_a_revision(
    server, sqlite_url, tmp_path, scorecard_cli
):
    port, handler = server([])
    load(sqlite_url, ROWS)
    config, out = _config(tmp_path, port), tmp_path / "out"
    assert scorecard_cli.run(sqlite_url, out, *SEND_HTML, config=config).exit_code == 0
    assert scorecard_cli.run(sqlite_url, out, *SEND_HTML, config=config).exit_code == 0
    assert scorecard_cli.run(sqlite_url, out, *SEND_HTML, config=config).exit_code == 0
    assert len(handler.accepted) == 1
    assert [e["status"] for e in _emails(out)] == ["already sent"]
    # Corrected data: the scorecard changes, so it goes again, marked as a revision.
    load(
        sqlite_url,
        {
            "work_items": [
                item("a2", "A", "2026-07-02 00:00", "2026-07-03 00:00", "2026-07-02 12:00", qa=1)
            ]
        },
    )
    assert scorecard_cli.run(sqlite_url, out, *SEND_HTML, config=config).exit_code == 0
    assert len(handler.accepted) == 2
    assert handler.accepted[1]["Subject"] == "[Revised] Vendor scorecard 2026-Q3: Acme Offshore"
    assert [(e["status"], e["revision"]) for e in _emails(out)] == [("sent", 1)]


def test_email_dry_run_writes_eml_files_and_sends_nothing(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, ROWS)
    config = _config(tmp_path, _free_port())  # nothing listens there
    result = scorecard_cli.run(
        sqlite_url, tmp_path / "out", *SEND_HTML, "--email-dry-run", config=config
    )
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "out" / AS_OF
    (eml,) = (run_dir / "emails").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "owner-a@example.com"
    assert next(message.iter_attachments()).get_filename() == "acme-offshore_a.html"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["emails"][0]["status"] == "dry run"
    assert f"emails/{eml.name}" in {a["path"] for a in manifest["artifacts"]}


def test_no_secret_reaches_logs_manifest_or_email(postgresql_url, tmp_path, scorecard_cli):
    secret = "s3cret-Pa55word"
    url = postgresql_url.replace(
        "root@", f"root:{secret}@"
    )  # trust auth ignores it; the job must not show it
    load(url, ROWS)
    config = _config(tmp_path, _free_port())
    config.write_text(
        config.read_text() + 'username_env = "SMTP_USER"\npassword_env = "SMTP_PASSWORD"\n'
    )
    result = scorecard_cli(
        "run", "--config", config, "--as-of", AS_OF, "--out", tmp_path / "out", "--send", "--email-dry-run",
        env={"SCORECARD_DATABASE_URL": url, "SMTP_USER": "mailer", "SMTP_PASSWORD": secret},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert secret not in result.output
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _tree(path: Path) -> dict[str, str]:
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in path.rglob("*")
        if p.is_file()
    }


def _run_process_command(url: str, out: Path) -> list[str]:
    """The `scorecard run` process command with the example config, reporting on url into out."""
    config = Path(__file__).resolve().parents[1] / "scorecard" / "example-config.toml"
    return [sys.executable, "-m", "scorecard.cli", "run", "--config", str(config),
            "--database-url", url, "--as-of", AS_OF, "--out", str(out)]  # fmt: skip


def test_a_run_killed_mid_render_leaves_the_previous_run_untouched(tmp_path, scorecard_cli):
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'demo.db'}"  # a small demo database
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.05", "--through", AS_OF)
    assert made.exit_code == 0
    command = _run_process_command(url, out)
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    before = _tree(out / AS_OF)
    assert (out / "latest").resolve() == (out / AS_OF).resolve()

    victim = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert victim.stderr is not None
    for line in victim.stderr:
        if "rendered the portfolio pack" in line:
            break
    os.killpg(victim.pid, signal.SIGKILL)  # the run and its render workers
    victim.wait()
    time.sleep(0.2)
    assert _tree(out / AS_OF) == before, "the previous complete run was changed"
    assert not [p for p in (out / AS_OF).rglob("*") if p.name.endswith(".tmp")]
    assert list(out.glob(".*.staging-*")), (
        "the killed run's staging folder stays hidden beside the runs"
    )

    rerun = subprocess.run(command, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(out.glob(".*.staging-*")), "the next run clears what a killed run left"


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 600 KiB filesystem (tmpfs), so writes fail with ENOSPC as on a full disk."""
    with tmpfs(tmp_path / "tiny", "size=600k") as mount_point:
        yield mount_point


def test_a_full_disk_fails_the_run_clearly_and_keeps_the_previous_run(
    tiny_disk, sqlite_url, scorecard_cli
):
    load(sqlite_url, ROWS)
    out = tiny_disk / "out"
    assert scorecard_cli.run(sqlite_url, out, "--format", "csv").exit_code == 0
    before = _tree(out / AS_OF)
    filler = tiny_disk / "filler"
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    filler.write_bytes(b"\0" * max(free - 40_000, 0))  # leave room for little more than the CSVs
    result = scorecard_cli.run(sqlite_url, out)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr.splitlines()[-1]
    assert result.stderr.splitlines()[-1].startswith("scorecard: error: cannot write ")
    assert _tree(out / AS_OF) == before
    assert not list(out.glob(".*.staging-*")) and not list(out.rglob("*.tmp"))


def test_a_render_that_takes_too_long_is_left_out_and_the_run_says_so(
    sqlite_url, tmp_path, scorecard_cli
):
    load(sqlite_url, ROWS)
    config = tmp_path / "slow.toml"
    # Starting a render process alone takes longer than this.
    config.write_text(
        "[reports]\nworkers = 2\nrender_timeout_seconds = 0.001\nportfolio_render_timeout_seconds = 0.001\n"
    )
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", config=config)
    assert result.exit_code == 1
    # One line per document left out; the rest of the run (its tables) is published.
    left_out = [line for line in result.stderr.splitlines() if "was not rendered" in line]
    assert len(left_out) == 2, result.stderr  # the scorecard of A and the pack
    assert any("the scorecard of A (vendors/" in line for line in left_out)
    assert all("longer than its limit of" in line for line in left_out)
    assert (tmp_path / "out" / AS_OF / "scores.csv").is_file()
    assert not list((tmp_path / "out" / AS_OF).rglob("*.pdf"))


def test_two_runs_at_once_one_exits_4(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'demo.db'}"  # a small demo database
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.05", "--through", AS_OF)
    assert made.exit_code == 0
    command = _run_process_command(url, tmp_path / "out")
    first = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert first.stderr is not None
    for line in first.stderr:
        if line.startswith("scorecard: reading"):
            break  # it holds the lock now
    second = subprocess.run(command, capture_output=True, text=True, check=False)
    first_out, first_err = first.communicate()
    assert second.returncode == 4
    assert second.stderr.splitlines()[-1] == (
        f"scorecard: error: another scorecard run holds the lock {tmp_path / 'out' / '.scorecard.lock'}"
    )
    assert first.returncode == 0, first_err
    assert "exit 0 (all done)" in first_out


def test_a_rerun_on_the_same_data_writes_identical_files(sqlite_url, tmp_path, scorecard_cli):
    load(sqlite_url, ROWS)
    trees = []
    for name in ("first", "second"):
        out = tmp_path / name
        result = scorecard_cli.run(sqlite_url, out, "--email-dry-run")
        assert result.exit_code == 0, result.output
        trees.append(_tree(out / AS_OF))
    assert trees[0] == trees[1]
    assert {"manifest.json", "portfolio.pdf", "scores.csv"} <= set(trees[0])
    assert any(path.startswith("emails/") for path in trees[0])


def test_a_pdf_that_is_broken_or_records_another_vendor_stops_the_run(tmp_path):
    import datetime as dt

    from weasyprint import HTML

    from output.run_folder import RunFolder
    from scorecard.errors import OutputError

    folder = RunFolder(tmp_path, dt.date(2026, 9, 30))
    staging = folder.staging
    (staging / "vendors").mkdir(parents=True)
    expected = {"vendors/acme.pdf": "scorecard-vendor 41"}

    def pdf(keywords: str) -> None:
        page = f'<html><head><meta name="keywords" content="{keywords}"></head><body>Acme</body></html>'
        HTML(string=page).write_pdf(staging / "vendors" / "acme.pdf")

    pdf("scorecard-vendor 41")
    folder.verify_documents(expected)  # a good one passes
    pdf("scorecard-vendor 42")  # another vendor's scorecard under this vendor's name
    with pytest.raises(
        OutputError, match="records 'scorecard-vendor 42', not 'scorecard-vendor 41'"
    ):
        folder.verify_documents(expected)
    (staging / "vendors" / "acme.pdf").write_bytes(b"%PDF-1.7\nthis is not a PDF body\n")
    with pytest.raises(
        OutputError, match=r"vendors/acme\.pdf (does not open as a PDF|has no pages)"
    ):
        folder.verify_documents(expected)
