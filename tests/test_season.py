"""A season of nights (contract section 11), as a user runs the job: every night for five
weeks across a quarter end, against a real SMTP server on 127.0.0.1.

The small world: Acme (always excellent), Bravo (good; its contract ends with Q3), and
Charlie, who arrives in Q4. The season holds a quiet night (no new data), a feed that breaks
for four days (the stale-data gate), a change of weights (Q3 is restated), a backfill of a
night that was skipped, retention with keep_days = 7, and the night that closes Q3 killed
(SIGKILL, a real process) while it sends. HTML only, to keep it short.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from email import policy
from pathlib import Path

import pytest

import scorecard
from output.email import messages_in_doubt, settle
from scorecard.errors import StaleDataError
from tests.builders import item, load, vendor
from tests.test_email import smtp_on_loopback

# A season of nights against a server: an integration test, not part of `make test-unit`.
pytestmark = [pytest.mark.stale_gate, pytest.mark.integration]

FIRST, LAST = dt.date(2026, 9, 5), dt.date(2026, 10, 14)
SKIPPED = dt.date(2026, 9, 20)
"""A night the job did not run: backfilled at the end."""
WEIGHTS_CHANGE = dt.date(2026, 10, 3)
CHARLIE_ARRIVES = dt.date(2026, 10, 3)
QUIET = dt.date(2026, 10, 6)
"""No new rows arrived for this night, nor for the three after it (the feed broke)."""
FEED_BACK = dt.date(2026, 10, 10)
KILLED = dt.date(2026, 9, 30)
AFTER_KILL = dt.date(2026, 10, 1)
"""The night that closes Q3 runs as a process, killed when the server has its second message
(before the server's answer): the first is sent, the second in doubt, the third never went."""
SLIPPING = (dt.date(2026, 9, 25), dt.date(2026, 9, 26), dt.date(2026, 9, 27))
"""Bravo misses every deadline: its standing falls from good to watch, and has held three
nights on the last of them (an alert, `[email] alert_standing_nights`)."""
MANAGERS = {"A": "acme@example.com", "B": "bravo@example.com", "C": "charlie@example.com"}
PACK = "pack@example.com"


class Recorder:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.kill: tuple[int, int] | None = None
        """(pid, n): kill that process when the nth message from now has arrived."""

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        for to in envelope.rcpt_tos:
            self.received.append((to, str(message["Subject"])))
        if self.kill is not None:
            pid, left = self.kill
            self.kill = (pid, left - 1)
            if left == 1:
                os.kill(pid, signal.SIGKILL)  # the message arrived; the run dies before "250"
        return "250 OK"


def _day_rows(day: dt.date) -> list[dict]:
    """The work items received on `day`: 4 perfect ones for Acme, 10 for Bravo (one late, all
    late while it slips) while its contract runs, 2 for Charlie once it arrived."""
    if QUIET <= day < FEED_BACK:
        return []
    rows = []
    at = f"{day} 09:00"
    done = f"{day} 15:00"
    due = f"{day} 23:00"
    late_due = f"{day} 10:00"
    for n in range(4):
        rows.append(item(f"A-{day}-{n}", "A", at, due, done, qa=1))
    if day <= dt.date(2026, 9, 30):
        for n in range(10):
            late = n == 0 or day in SLIPPING
            rows.append(item(f"B-{day}-{n}", "B", at, late_due if late else due, done, qa=1))
    if day >= CHARLIE_ARRIVES:
        for n in range(2):
            rows.append(item(f"C-{day}-{n}", "C", at, due, done, qa=1))
    return rows


def _config(path: Path, port: int, out: Path, speed_weight: int) -> scorecard.Config:
    path.write_text(
        f'[run]\noutput_dir = "{out}"\nformats = ["html"]\n'
        f"[scoring.weights]\naccuracy = 30\nspeed = {speed_weight}\ncost = 25\nresponsiveness = 20\n"
        f'[email]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsender = "sc@example.com"\n'
        f'portfolio_recipients = ["{PACK}"]\nretry_delay_seconds = 0.01\n'
        "[output]\nkeep_days = 7\n"
        "[reports]\nworkers = 1\n"  # rendered in the run's own process: nothing outlives a kill
    )
    return scorecard.load_config(path)


@pytest.fixture
def smtp():
    recorder = Recorder()
    with smtp_on_loopback(recorder) as port:
        yield port, recorder


def test_a_season_of_nights(smtp, sqlite_url, tmp_path, monkeypatch):
    port, recorder = smtp
    out = tmp_path / "out"
    load(sqlite_url, {"vendors": [
        vendor("A", name="Acme", manager_email=MANAGERS["A"]),
        vendor("B", name="Bravo", manager_email=MANAGERS["B"], contract_end=dt.date(2026, 9, 30)),
    ]})  # fmt: skip
    config = _config(tmp_path / "season.toml", port, out, speed_weight=25)
    sent_on: dict[dt.date, list[tuple[str, str]]] = {}
    seconds: dict[dt.date, float] = {}
    results = {}
    day = FIRST
    while day <= LAST:
        rows = _day_rows(day)
        if day == CHARLIE_ARRIVES:
            load(
                sqlite_url, {"vendors": [vendor("C", name="Charlie", manager_email=MANAGERS["C"])]}
            )
        if day == WEIGHTS_CHANGE:
            config = _config(tmp_path / "season.toml", port, out, speed_weight=50)
        if rows:
            load(sqlite_url, {"work_items": rows})
        if day == KILLED:
            before = len(recorder.received)
            command = [sys.executable, "-m", "scorecard.cli", "run", "--config",
                       str(tmp_path / "season.toml"), "--database-url", sqlite_url,
                       "--as-of", day.isoformat(), "--send"]  # fmt: skip
            victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            recorder.kill = (victim.pid, 2)
            victim.communicate(timeout=300)
            recorder.kill = None
            assert victim.returncode == -signal.SIGKILL
            sent_on[day] = recorder.received[before:]
        elif day != SKIPPED:
            before = len(recorder.received)
            started = time.perf_counter()
            try:
                results[day] = scorecard.run(config, database_url=sqlite_url, as_of=day, send=True)
            except StaleDataError as exc:
                results[day] = exc
            seconds[day] = time.perf_counter() - started
            sent_on[day] = recorder.received[before:]
            if day == AFTER_KILL:
                # It did its own work, named the message in doubt and exited 1; a recipient
                # says it arrived, and the operator settles it.
                (doubt,) = messages_in_doubt(out)
                assert any(f"email in doubt: {doubt.reference} " in p
                           for p in results[day].problems), results[day].problems  # fmt: skip
                settle(out, doubt.reference, delivered=True)
        day += dt.timedelta(days=1)

    # The stale-data gate: 72 h after the last rows (received 10-05 09:00) the night fails,
    # naming the table and the newest time; nothing published, nothing sent, latest stays.
    stale = [d for d, r in results.items() if isinstance(r, StaleDataError)]
    assert stale == [dt.date(2026, 10, 8), dt.date(2026, 10, 9)]
    assert "work_items.received_at is 2026-10-05 09:00" in str(results[stale[0]])
    assert not (out / "2026-10-08").exists() and not (out / "2026-10-09").exists()
    assert sent_on[stale[0]] == [] and sent_on[stale[1]] == []
    # The night after the kill exits 1 (a message in doubt); every other night exits 0.
    assert results[AFTER_KILL].exit_code == 1
    assert all(r.exit_code == 0 for d, r in results.items() if d not in [*stale, AFTER_KILL]), {
        d: r.problems for d, r in results.items() if d not in stale and r.exit_code
    }

    # Who got what: the first night (a new user sees what arrives), an alert the third night
    # Bravo's standing is watch, and Q3's close: two messages the night killed while sending
    # (the second in doubt, settled as delivered), the third the night after, named by its
    # day. Nothing on any other night, nothing twice.
    by_night = {d: sorted(to for to, _ in mails) for d, mails in sent_on.items() if mails}
    everyone = sorted([PACK, MANAGERS["A"], MANAGERS["B"]])
    alert_night = SLIPPING[-1]
    assert len(by_night[KILLED]) == 2 and len(by_night[AFTER_KILL]) == 1
    assert sorted(by_night[KILLED] + by_night[AFTER_KILL]) == everyone
    assert by_night == {
        FIRST: everyone,
        alert_night: sorted([PACK, MANAGERS["B"]]),
        KILLED: by_night[KILLED],
        AFTER_KILL: by_night[AFTER_KILL],
    }
    assert all("as of 2026-10-01" in subject for _, subject in sent_on[AFTER_KILL])
    assert sorted(subject for _, subject in sent_on[alert_night]) == [
        "Vendor performance review 2026-Q3 (as of 2026-09-27) (alert: 1 vendor)",
        "Vendor scorecard 2026-Q3: Bravo (alert: standing good -> watch)",
    ]
    assert sent_on[QUIET] == []  # the quiet night
    per_recipient = Counter(to for mails in sent_on.values() for to, _ in mails)
    assert per_recipient == {PACK: 3, MANAGERS["A"]: 2, MANAGERS["B"]: 3}
    subjects = [(to, s) for mails in sent_on.values() for to, s in mails]
    assert len(subjects) == len(set(subjects)) == 8  # zero duplicates
    # Bravo's contract ended with Q3: listed so, never mailed in Q4; Charlie's first days
    # close nothing and raise no alert.
    ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    assert ledger[-1]["ended"] == ["B"]

    # The weights change restates Q3 (published on 10-01) and says why, once, in the manifest.
    changed = results[WEIGHTS_CHANGE]
    restated = [n for n in changed.notices if n.startswith("2026-Q3 B restated")]
    assert restated == [
        "2026-Q3 B restated: method changed on 2026-10-03: scoring.weights.speed 25 -> 50"
    ]
    # ... and the documents say so next to the figure, every night after it.
    why = "method changed on 2026-10-03: scoring.weights.speed 25 -&gt; 50"
    scorecard_html = (out / LAST.isoformat() / "vendors" / "bravo_b.html").read_text()
    assert f"2026-Q3 restated: {why}" in scorecard_html
    assert f"Bravo, 2026-Q3: {why}" in (out / LAST.isoformat() / "portfolio.html").read_text()
    assert "restated" not in (out / LAST.isoformat() / "vendors" / "acme_a.html").read_text()
    assert ledger[0]["closes"][-1] == "2026-Q2"
    # Q3 was closed by the night after the kill (the killed night published nothing).
    closing = next(line for line in ledger if "2026-Q3" in line["closes"])
    assert closing["as_of"] == AFTER_KILL.isoformat()

    # The backfill of the skipped night: published, sends nothing, latest stays on the newest.
    backfill = scorecard.run(config, database_url=sqlite_url, as_of=SKIPPED, send=True)
    assert backfill.exit_code == 0 and (out / SKIPPED.isoformat() / "manifest.json").exists()
    assert len(recorder.received) == sum(per_recipient.values())
    assert os.readlink(out / "latest") == LAST.isoformat()
    assert any("backfill" in n for n in backfill.notices)
    # Asked with --resend, it goes out, and every subject names its as-of day.
    asked = scorecard.run(config, database_url=sqlite_url, as_of=SKIPPED, send=True, resend=True)
    assert asked.exit_code == 0
    resent = recorder.received[sum(per_recipient.values()) :]
    assert sorted(to for to, _ in resent) == everyone
    assert all("as of 2026-09-20" in subject for _, subject in resent), resent
    assert os.readlink(out / "latest") == LAST.isoformat()

    # Retention (keep_days = 7): the last week's runs, the runs that closed Q2 and Q3 (10-01), the
    # backfill just made (the next night prunes it); every ledger line stays.
    # (Dot-folders are the job's own state, such as the outbox of messages that may be in doubt.)
    runs = sorted(
        p.name
        for p in out.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )
    assert runs == ["2026-09-05", "2026-09-20", "2026-10-01", "2026-10-07", "2026-10-10",
                    "2026-10-11", "2026-10-12", "2026-10-13", "2026-10-14"]  # fmt: skip
    nights_run = len(results) - len(stale) + 2
    assert len((out / "ledger.jsonl").read_text().splitlines()) == nights_run

    full = seconds[dt.date(2026, 9, 29)]
    quiet = seconds[QUIET]
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    ledger_bytes = (out / "ledger.jsonl").stat().st_size
    print(f"\nseason: full night {full:.2f} s, quiet night {quiet:.2f} s, folder {disk:,} bytes "
          f"in {len(runs) - 1} run folders, ledger {ledger_bytes:,} bytes for {nights_run} runs")  # fmt: skip
