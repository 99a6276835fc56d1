"""Alerts on nights between closings (contract section 11): something real happened, judged
against every earlier night, so a figure wavering around a line alerts once, not nightly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from output.ledger import Ledger, NightFacts, night_alerts

MIN_ITEMS = 30


def _night(standing: str, significant: bool | None = True, items: int = 40,
           signals: list[str] | None = None, due: list[str] | None = None) -> NightFacts:  # fmt: skip
    vendors = {"A": {"standing": standing, "items": items, "significant": significant,
                     "composite": 60.0, "rank": 1}}  # fmt: skip
    return NightFacts("2026-Q4", vendors, {"A": signals} if signals else {},
                      {"A": due} if due else {}, {"A": "f", "": "p"}, [])  # fmt: skip


def _season(tmp_path: Path, nights: list[tuple[NightFacts, bool]]) -> list[dict[str, str]]:
    """Each night's alerts, the ledger growing as the job's would; sent: a message went."""
    ledger = Ledger(tmp_path)
    found = []
    for day, (facts, sent) in enumerate(nights, start=1):
        as_of = dt.date(2026, 10, day)
        alerts = night_alerts(ledger, as_of, facts, MIN_ITEMS)
        found.append(alerts)
        line: dict[str, Any] = {
            "as_of": as_of.isoformat(), "current": facts.current, "vendors": facts.vendors,
            "signals": facts.signals, "due": facts.due,
            "sent": {"A": "f"} if sent or alerts else {},
        }  # fmt: skip
        ledger.append(line)
    return found


def test_a_standing_wavering_on_a_band_edge_on_noise_alerts_never(tmp_path):
    """The season run showed alerts on 44 of 92 nights: a standing that crossed a band's edge
    and back on noise alerted every time, measured against the night before."""
    nights = [(_night("watch"), True)] + [
        (_night(standing, significant=False), False) for standing in ["good", "watch"] * 3
    ]
    assert _season(tmp_path, nights) == [{}] * 7


def test_a_real_change_of_standing_alerts_once_then_holds(tmp_path):
    nights = [(_night("watch"), True), (_night("good"), False), (_night("good"), False),
              (_night("watch", significant=False), False), (_night("good"), False)]  # fmt: skip
    assert _season(tmp_path, nights) == [{}, {"A": "standing watch -> good"}, {}, {}, {}]


def test_a_change_of_standing_on_noise_or_on_few_items_is_no_alert(tmp_path):
    nights = [(_night("good"), True), (_night("watch", significant=False), False),
              (_night("critical", items=MIN_ITEMS - 1), False)]  # fmt: skip
    assert _season(tmp_path, nights) == [{}, {}, {}]


def test_the_standing_compared_is_the_one_last_sent(tmp_path):
    """Sent "good"; tonight "watch" but not significant; tomorrow "good" again: nothing, since
    the recipient was never told anything else."""
    nights = [(_night("good"), True), (_night("watch", significant=False), False),
              (_night("good"), False)]  # fmt: skip
    assert _season(tmp_path, nights) == [{}, {}, {}]


def test_a_special_cause_alerts_once_as_it_grows_moves_or_wavers(tmp_path):
    run_to_september = "on_time_rate|run|2026-03|2026-09"
    run_to_october = "on_time_rate|run|2026-03|2026-10"  # the same run, a month longer
    run_moved = "on_time_rate|run|2026-04|2026-10"  # the chart's months moved on: the same
    outside = "accuracy|outside|2026-10|2026-10"
    nights = [
        (_night("good"), True),
        (_night("good", signals=[run_to_september]), False),
        (_night("good", signals=[run_to_october]), False),
        (_night("good", signals=[run_to_october, outside]), False),
        (_night("good", signals=[run_to_october]), False),  # October back inside its limits
        (_night("good", signals=[run_to_october, outside]), False),  # and out again: known
        (_night("good", signals=[run_moved]), False),
        (_night("good", signals=["on_time_rate|run|2026-11|2026-12"]), False),  # a new run
    ]
    new = {"A": "new special cause"}
    assert _season(tmp_path, nights) == [{}, new, {}, new, {}, {}, {}, new]


def test_a_credit_due_alerts_once(tmp_path):
    due = ["On time|2026-09"]
    nights = [(_night("good"), True), (_night("good", due=due), False),
              (_night("good"), False), (_night("good", due=due), False)]  # fmt: skip
    assert _season(tmp_path, nights) == [{}, {"A": "credit now due"}, {}, {}]


def test_a_vendor_with_no_previous_period_alerts_on_a_change_of_standing(tmp_path):
    """Its change cannot be tested against a previous period: the change itself is the news."""
    nights = [(_night("good", significant=None), True), (_night("watch", significant=None), False)]
    assert _season(tmp_path, nights) == [{}, {"A": "standing good -> watch"}]


def test_a_special_cause_in_months_long_past_is_history_not_news(tmp_path):
    """As a month comes in, a chart's centre line moves and an old month, or a run that ended
    in May, can cross its limits again: not tonight's news (the nights are in October)."""
    nights = [
        (_night("good"), True),
        (_night("good", signals=["first_contact_resolution|run|2025-10|2026-05"]), False),
        (_night("good", signals=["timeliness|outside|2026-09|2026-09"]), False),
    ]
    assert _season(tmp_path, nights) == [{}, {}, {"A": "new special cause"}]
