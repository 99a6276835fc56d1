"""Logs: JSON lines when not on a terminal, text with a progress bar on one."""

from __future__ import annotations

import io
import json

from sqlalchemy import create_engine

from scorecard.log import RunLog
from tests.builders import item, load, vendor

AS_OF = "2026-09-30"
ROWS = {
    "vendors": [vendor("A", name="Acme Offshore")],
    "work_items": [
        item("a1", "A", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 12:00", qa=1)
    ],
}


def test_not_on_a_terminal_the_log_is_json_lines_and_the_summary_json(
    sqlite_url, tmp_path, monkeypatch, scorecard_cli
):
    monkeypatch.delenv("SCORECARD_LOG_FORMAT")  # auto: scorecard_cli's stderr is not a terminal
    load(sqlite_url, ROWS)
    result = scorecard_cli.run(sqlite_url, tmp_path / "out", "--format", "csv,html")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert {r["level"] for r in records} == {"info"}
    assert any(r["message"].startswith("rendered the portfolio pack") for r in records)
    assert all(r["time"].endswith("+00:00") for r in records)
    summary = json.loads(result.stdout)
    assert (summary["exit_code"], summary["meaning"]) == (0, "all done")
    assert summary["tables"]["work_items"] == {
        "rows_read": 1,
        "rows_accepted": 1,
        "rows_rejected": 0,
    }


def test_errors_are_json_too_with_their_exit_code(tmp_path, scorecard_cli):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).connect().close()
    result = scorecard_cli("run", "--database-url", url, "--out", tmp_path, "--log-format", "json")
    assert result.exit_code == 3
    error = json.loads(result.stderr.splitlines()[-1])
    assert error["level"] == "error" and error["exit_code"] == 3
    assert (
        error["message"] == "tables vendors, work_items, requests, charges are missing from the "
        "database (run scorecard init-db?)"
    )


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_rendering_shows_a_progress_bar():
    screen = Terminal()
    log = RunLog("text", screen)
    for done in range(1, 5):
        log.tick(done, 4)
    log.info("done")
    text = screen.getvalue()
    assert "\rscorecard: rendering [#######.....................] 1/4" in text
    assert text.endswith(
        "scorecard: rendering [############################] 4/4\nscorecard: done\n"
    )


def test_off_a_terminal_there_is_no_progress_bar():
    stream = io.StringIO()
    RunLog("text", stream).tick(1, 4)
    assert stream.getvalue() == ""
