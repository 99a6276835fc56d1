"""Alerts on nights between closings (contract section 11): something real happened, judged
against every earlier night, so a figure wavering around a line alerts once, not nightly.

What "real" means was set from a simulated year on the demo world (bench/year.py's world,
replayed night by night): a pack recipient got 32 messages in one quarter with the earlier
rules, most of them a standing crossing a band's edge and back, a month's first days
crossing a control limit, or a credit of a month still in progress."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import scorecard
from output.ledger import AlertRules, Ledger, NightFacts, night_alerts
from scorecard.errors import ConfigError

# The config's defaults: 30 items, bands 85/70/50, 2 points past, held 3 nights, a third.
RULES = AlertRules.of(scorecard.load_config(None))
MIDDLE = {"excellent": 90.0, "good": 77.0, "watch": 60.0, "critical": 40.0}


def _night(standing: str, significant: bool | None = True, items: int = 40,
           signals: list[str] | None = None, due: list[str] | None = None,
           composite: float | None = None, previous_items: int = 100) -> NightFacts:  # fmt: skip
    composite = MIDDLE[standing] if composite is None else composite
    vendors = {"A": {"standing": standing, "items": items, "significant": significant,
                     "composite": composite, "rank": 1, "previous_items": previous_items}}  # fmt: skip
    return NightFacts("2026-Q4", vendors, {"A": signals} if signals else {},
                      {"A": due} if due else {}, {"A": "f", "": "p"}, [])  # fmt: skip


def _season(
    tmp_path: Path,
    nights: list[tuple[NightFacts, bool]],
    days: list[dt.date] | None = None,
    rules: AlertRules = RULES,
) -> list[dict[str, str]]:
    """Each night's alerts, the ledger growing as the job's would; sent: a message went.
    The nights are 2026-10-01, 10-02, ... unless `days` are given."""
    days = days or [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(len(nights))]
    ledger = Ledger(tmp_path)
    found = []
    for as_of, (facts, sent) in zip(days, nights, strict=True):
        alerts = night_alerts(ledger, as_of, facts, rules)
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


def test_a_real_change_of_standing_alerts_once_it_has_held_three_nights(tmp_path):
    nights = [(_night("watch"), True)] + [(_night("good"), False)] * 4 + [
        (_night("watch", significant=False), False), (_night("good"), False)]  # fmt: skip
    alert = {"A": "standing watch -> good"}
    assert _season(tmp_path, nights) == [{}, {}, {}, alert, {}, {}, {}]


def test_a_new_standing_that_does_not_hold_is_no_alert(tmp_path):
    """A period's first weeks: good two nights, watch, good two nights: never three in a row."""
    nights = [(_night("watch"), True)] + [
        (_night(standing), False) for standing in ["good", "good", "watch", "good", "good"]
    ]
    assert _season(tmp_path, nights) == [{}] * 6


def test_a_composite_just_past_the_band_edge_is_no_alert_until_it_is_clear_of_it(tmp_path):
    """Told watch (below 70): 71.5 is within the 2-point margin, 72.0 is clear of it."""
    nights = [(_night("watch"), True)] + [
        (_night("good", composite=71.5), False)] * 4 + [(_night("good", composite=72.0), False)]  # fmt: skip
    assert _season(tmp_path, nights) == [{}] * 5 + [{"A": "standing watch -> good"}]
    down = [(_night("good"), True)] + [(_night("watch", composite=c), False) for c in
                                      (68.5, 68.5, 68.5, 67.9)]  # fmt: skip
    (tmp_path / "down").mkdir()
    assert _season(tmp_path / "down", down) == [{}] * 4 + [{"A": "standing good -> watch"}]


def test_a_period_s_first_weeks_claim_no_change_of_standing(tmp_path):
    """The previous period completed 900 work items: until this one holds a third of that
    (297), its standing rests on a few days of data and its changes are no news."""
    early = [(_night("watch", items=n, previous_items=900), False) for n in (200, 250, 296)]
    later = [(_night("watch", items=n, previous_items=900), False) for n in (297, 310)]
    nights = [(_night("good", previous_items=900), True), *early, *later]
    assert _season(tmp_path, nights) == [{}] * 4 + [{"A": "standing good -> watch"}, {}]


def test_the_margin_and_the_nights_are_the_config_s(tmp_path):
    """[email] alert_standing_margin = 0 and alert_standing_nights = 1: the first night past
    the edge alerts."""
    config = scorecard.load_config(None).model_copy(deep=True)
    config = config.model_copy(update={"email": config.email.model_copy(
        update={"alert_standing_margin": 0.0, "alert_standing_nights": 1})})  # fmt: skip
    rules = AlertRules.of(config)
    assert (rules.margin, rules.nights, rules.share, rules.min_items) == (0.0, 1, 0.33, 30)
    nights = [(_night("watch"), True), (_night("good", composite=70.0), False)]
    assert _season(tmp_path, nights, rules=rules) == [{}, {"A": "standing watch -> good"}]


def test_a_change_of_standing_on_noise_or_on_few_items_is_no_alert(tmp_path):
    nights = [(_night("good"), True)] + [(_night("watch", significant=False), False)] * 3 + [
        (_night("critical", items=RULES.min_items - 1), False)] * 3  # fmt: skip
    assert _season(tmp_path, nights) == [{}] * 7


def test_the_standing_compared_is_the_one_last_sent(tmp_path):
    """Sent "good"; then "watch" but not significant; then "good" again: nothing, since the
    recipient was never told anything else."""
    nights = [(_night("good"), True)] + [(_night("watch", significant=False), False)] * 3 + [
        (_night("good"), False)] * 3  # fmt: skip
    assert _season(tmp_path, nights) == [{}] * 7


def test_a_vendor_with_no_previous_period_alerts_on_a_change_of_standing(tmp_path):
    """Its change cannot be tested against a previous period: the change itself is the news."""
    nights = [(_night("good", significant=None), True)] + [
        (_night("watch", significant=None), False)] * 3  # fmt: skip
    assert _season(tmp_path, nights) == [{}, {}, {}, {"A": "standing good -> watch"}]


def test_a_special_cause_alerts_once_as_it_grows_moves_or_wavers(tmp_path):
    """Nights in November: October is the newest month over."""
    run_to_october = "on_time_rate|run|2026-03|2026-10"
    run_to_november = "on_time_rate|run|2026-03|2026-11"  # into the month in progress
    run_moved = "on_time_rate|run|2026-04|2026-10"  # the chart's months moved on: the same
    outside = "accuracy|outside|2026-10|2026-10"
    nights = [
        (_night("good"), True),
        (_night("good", signals=[run_to_october]), False),
        (_night("good", signals=[run_to_november]), False),
        (_night("good", signals=[run_to_october, outside]), False),
        (_night("good", signals=[run_to_october]), False),  # October back inside its limits
        (_night("good", signals=[run_to_october, outside]), False),  # and out again: known
        (_night("good", signals=[run_moved]), False),
    ]
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(len(nights))]
    new = {"A": "new special cause"}
    assert _season(tmp_path, nights, days) == [{}, new, {}, new, {}, {}, {}]


def test_a_special_cause_outside_month_after_month_is_one_cause(tmp_path):
    """On the demo world a troubled vendor's timeliness was outside its limits every month of
    the year, and each month-end night alerted "new special cause". The same measure outside
    again the next month, or a run holding those months, is the same cause; back inside for a
    month and out again is a new one."""
    month = "timeliness|outside|2026-{:02d}|2026-{:02d}"
    nights = [
        (_night("good"), True),
        (_night("good", signals=[month.format(8, 8)]), False),
        (_night("good", signals=[month.format(8, 8), month.format(9, 9)]), False),
        (_night("good", signals=["timeliness|run|2026-02|2026-10"]), False),
        (_night("good", signals=[month.format(12, 12)]), False),  # November was inside
        (_night("good", signals=["quality|outside|2026-12|2026-12"]), False),  # another measure
    ]
    days = [dt.date(2026, m, d) for m, d in ((8, 30), (8, 31), (9, 30), (10, 31), (12, 31))]
    days.append(dt.date(2027, 1, 1))
    new = {"A": "new special cause"}
    assert _season(tmp_path, nights, days) == [{}, new, {}, {}, new, new]


def test_a_special_cause_in_the_month_in_progress_waits_for_the_month_to_be_over(tmp_path):
    """A month's first days are a small sample: on the demo world they crossed a limit and fell
    back within a week, month after month. The month's own last night, when it is over, says
    whether it is a special cause; the next night knows it."""
    october = ["timeliness|outside|2026-10|2026-10"]
    nights = [(_night("good"), True)] + [(_night("good", signals=october), False)] * 4
    days = [dt.date(2026, 10, d) for d in (1, 2, 3, 30, 31)] + [dt.date(2026, 11, 1)]
    nights.append((_night("good", signals=october), False))
    assert _season(tmp_path, nights, days) == [{}, {}, {}, {}, {"A": "new special cause"}, {}]


def test_a_special_cause_in_months_long_past_is_history_not_news(tmp_path):
    """As a month comes in, a chart's centre line moves and an old month, or a run that ended
    in May, can cross its limits again: not tonight's news (the nights are in October)."""
    nights = [
        (_night("good"), True),
        (_night("good", signals=["first_contact_resolution|run|2025-10|2026-05"]), False),
        (_night("good", signals=["timeliness|outside|2026-08|2026-08"]), False),
        (_night("good", signals=["timeliness|outside|2026-09|2026-09"]), False),
    ]
    assert _season(tmp_path, nights) == [{}, {}, {}, {"A": "new special cause"}]


def test_a_credit_alerts_once_when_its_month_is_over(tmp_path):
    """A month in progress can still meet its level: its credit is news once the month is over
    (here October's, on 10-31), and a month over alerts the first night it is due."""
    september = ["On time|2026-09"]
    october = ["On time|2026-10"]
    nights = [(_night("good"), True), (_night("good", due=september), False),
              (_night("good"), False), (_night("good", due=september), False),
              (_night("good", due=october), False), (_night("good", due=october), False),
              (_night("good", due=october), False)]  # fmt: skip
    days = [dt.date(2026, 10, d) for d in (1, 2, 3, 4, 5, 31)] + [dt.date(2026, 11, 1)]
    due = {"A": "credit now due"}
    assert _season(tmp_path, nights, days) == [{}, due, {}, {}, {}, due, {}]


@pytest.mark.parametrize(
    ("key", "bad"),
    [("alert_standing_margin", "-1"), ("alert_standing_nights", "0"),
     ("alert_standing_nights", "32"), ("alert_standing_share", "1.5")],
)  # fmt: skip
def test_an_alert_setting_out_of_range_is_a_config_error_naming_it(tmp_path, key, bad):
    path = tmp_path / "c.toml"
    path.write_text(f"[email]\n{key} = {bad}\n")
    with pytest.raises(ConfigError, match=f"email.{key}"):
        scorecard.load_config(path)


def test_an_alert_a_stopped_night_handed_over_is_not_sent_again(tmp_path):
    """The night of 10-02 was killed while it sent A's alert: it left its email journal and no
    ledger line. On 10-03 the same news is planned, and the message it handed over is held
    back (the night records it as told, so the next night does not plan it either)."""
    from output.email import Journal
    from output.ledger import plan_messages, vendor_of_message
    from reports.view import document_key
    from scoring.periods import periods_for
    from tests.builders import make_config

    config = make_config(email={"alert_standing_nights": 1})
    ledger = Ledger(tmp_path)
    told = _night("good")
    ledger.append({"as_of": "2026-10-01", "current": told.current, "vendors": told.vendors,
                   "signals": {}, "due": {}, "sent": {"A": "f"}, "closes": ["2026-Q3"],
                   "method": "method"})  # fmt: skip
    periods = periods_for(dt.date(2026, 10, 3), "quarter", 1)

    def plan():
        return plan_messages(Ledger(tmp_path), config, dt.date(2026, 10, 3), periods,
                             _night("watch"), "method", resend=False)  # fmt: skip

    assert plan().handed_over == frozenset()
    key = f"{document_key('A')}|vendors"
    Journal(tmp_path / "2026-10-02.emails.jsonl").record("sent", key, {"rcpt": ["a@example.com"]})
    tonight = plan()
    assert tonight.vendors == {"A": "alert: standing good -> watch"}
    assert tonight.handed_over == {key}
    assert vendor_of_message(key) == "A"
