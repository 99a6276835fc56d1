"""Control charts (p-chart, Laney p') and their special-cause signals, on small inline series."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from scoring.control import monthly_rates, p_chart

MONTHS = [dt.date(2025 + (m - 1) // 12, (m - 1) % 12 + 1, 1) for m in range(4, 19)]  # 15 months


def stable_successes(trials: int = 400) -> list[int]:
    """About 95 % every month, alternating a little either side: common cause only."""
    wobble = [2, -2, 1, -1, 2, -1, 1, -2, 2, -1, 1, -2, 1, -1, 0]
    return [round(trials * 0.95) + w for w in wobble]


def test_a_stable_process_raises_no_signal():
    chart = p_chart("quality", MONTHS, stable_successes(), [400] * 15)
    assert chart is not None
    assert chart.centre == pytest.approx(0.95)
    assert chart.method == "p"
    assert chart.signals == []


def test_a_planted_bad_month_is_found_outside_the_limits():
    successes = stable_successes()
    successes[9] = 340  # 85 % in one month
    chart = p_chart("quality", MONTHS, successes, [400] * 15)
    assert chart is not None
    outside = [s for s in chart.signals if s.kind == "outside"]
    assert [(s.first_month, s.better) for s in outside] == [("2026-01", False)]
    # The limits come from each month's own sample: a smaller month gets wider limits.
    trials = [400] * 15
    trials[3] = 100
    wider = p_chart("quality", MONTHS, [round(0.95 * n) for n in trials], trials)
    assert wider is not None
    assert wider.upper[3] - wider.lower[3] > wider.upper[4] - wider.lower[4]


def test_eight_months_in_a_row_below_the_centre_line_is_a_signal():
    # The process shifts down slightly from the eighth month on: no month is outside, but the run is.
    successes = [382, 383, 382, 383, 382, 383, 382, 377, 378, 377, 378, 377, 378, 377, 378]
    chart = p_chart("timeliness", MONTHS, successes, [400] * 15)
    assert chart is not None
    runs = [s for s in chart.signals if s.kind == "run"]
    assert [(s.first_month, s.last_month, s.better) for s in runs] == [
        ("2025-11", "2026-06", False)
    ]
    assert all(s.kind == "run" for s in chart.signals)


def test_large_overdispersed_samples_get_laney_limits_and_no_false_alarms():
    # 20,000 items a month varying by about a point: plain p limits (±0.45 pts) would
    # flag most months; p' widens them by the measured spread.
    rates = [0.95, 0.96, 0.945, 0.955, 0.962, 0.948, 0.953, 0.958, 0.944, 0.957, 0.951, 0.96,
             0.947, 0.954, 0.95]  # fmt: skip
    chart = p_chart("quality", MONTHS, [round(r * 20_000) for r in rates], [20_000] * 15)
    assert chart is not None
    assert chart.method == "Laney p'" and chart.sigma_z is not None and chart.sigma_z > 1
    assert chart.signals == []


def test_monthly_rates_sum_each_vendors_items_by_month_completed():
    item_days = pl.DataFrame(
        {
            "vendor_id": ["A", "A", "A", "B"],
            "process": ["x", "y", "x", "x"],
            "completed_day": [dt.date(2026, 7, 3), dt.date(2026, 7, 20), dt.date(2026, 8, 1), None],
            "due_period": ["2026-Q3", None, "2026-Q3", "2026-Q3"],
            "items": [10, 5, 4, 3],
            "items_on_time": [9, 5, 1, 0],
            "qa_checked_units": [20, 10, 0, 3],
            "defects": [1, 2, 0, 0],
        }
    )
    rows = monthly_rates(item_days).sort("measure", "month").to_dicts()
    assert [(r["measure"], r["month"], r["successes"], r["trials"]) for r in rows] == [
        ("quality", dt.date(2026, 7, 1), 27, 30),
        ("timeliness", dt.date(2026, 7, 1), 9, 10),  # the item without a deadline is left out
        ("timeliness", dt.date(2026, 8, 1), 1, 4),
    ]
