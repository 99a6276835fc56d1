"""Each metric function on small inline frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from scorecard.config import Band, Standings
from scoring import metrics as m
from scoring.periods import periods_for


def evaluate(expr: pl.Expr, **columns) -> list:
    return pl.DataFrame(columns).select(expr.alias("out")).get_column("out").to_list()


def test_ratio_with_a_zero_or_null_denominator_is_null_never_zero():
    assert evaluate(m.ratio(pl.col("n"), pl.col("d")), n=[1, 0, 3], d=[0, 0, None]) == [
        None,
        None,
        None,
    ]
    assert evaluate(m.ratio(pl.col("n"), pl.col("d")), n=[1, 3], d=[4, 3]) == [0.25, 1.0]


def test_accuracy_is_one_minus_defects_over_checked_and_null_when_nothing_checked():
    assert evaluate(m.accuracy(pl.col("d"), pl.col("q")), d=[130, 0, 0], q=[10_000, 50, 0]) == [
        pytest.approx(0.987), 1.0, None,
    ]  # fmt: skip


def test_hours_from_milliseconds_counts_fractions_of_hours():
    # 25 h 30 min, as the database sums durations: whole milliseconds.
    assert evaluate(m.hours_from_milliseconds(pl.col("ms")), ms=[91_800_000]) == [25.5]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.95, 0.0), (0.90, 0.0), (0.995, 100.0), (0.999, 100.0), (0.9725, 50.0), (None, None)],
)
def test_dimension_score_is_linear_between_floor_and_target_and_clamped(value, expected):
    band = Band(floor=0.95, target=0.995)
    result = evaluate(m.dimension_score(pl.col("k"), band), k=pl.Series([value], dtype=pl.Float64))[
        0
    ]
    assert result == (None if expected is None else pytest.approx(expected))


def test_dimension_score_works_for_a_falling_kpi_like_cost():
    band = Band(floor=1.10, target=0.60)
    assert evaluate(m.dimension_score(pl.col("k"), band), k=[1.10, 0.85, 0.60, 0.30, 1.5]) == [
        0.0, pytest.approx(50.0), 100.0, 100.0, 0.0,
    ]  # fmt: skip


def test_composite_is_the_weighted_mean_of_the_scores_present():
    weights = {"a": 30, "s": 25, "c": 25, "r": 20}
    scores = {k: pl.col(k) for k in weights}
    out = evaluate(
        m.composite_score(scores, weights),
        a=[100.0, 100.0, None], s=[0.0, None, None], c=[50.0, None, None], r=[None, None, None],
    )  # fmt: skip
    assert out[0] == pytest.approx((100 * 30 + 0 * 25 + 50 * 25) / 80)
    assert out[1] == pytest.approx(100.0)
    assert out[2] is None


def test_standings_at_their_thresholds():
    out = evaluate(
        m.standing(pl.col("c"), Standings()), c=pl.Series([85.0, 84.99, 70.0, 50.0, 49.99, None])
    )
    assert out == ["excellent", "good", "good", "watch", "critical", "not scored"]


def test_savings_and_cost_ratio():
    assert evaluate(m.cost_ratio(pl.col("t"), pl.col("i")), t=[5.0, 5.0], i=[10.0, 0.0]) == [
        0.5,
        None,
    ]
    assert evaluate(
        m.savings_vs_in_house(pl.col("i"), pl.col("t"), pl.col("u")), i=[10.0], t=[12.5], u=[100]
    ) == [-250.0]


def test_quarter_periods_with_history_and_labels():
    periods = periods_for(dt.date(2026, 8, 15), "quarter", 4)
    assert [p.label for p in periods] == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    assert periods[-1].start == dt.date(2026, 7, 1) and periods[-1].end == dt.date(2026, 8, 15)
    assert periods[-1].is_current and not periods[0].is_current
    assert periods[0].start == dt.date(2025, 7, 1) and periods[0].end == dt.date(2025, 9, 30)


def test_month_periods_cross_a_year():
    periods = periods_for(dt.date(2026, 1, 31), "month", 2)
    assert [(p.label, p.start, p.end) for p in periods] == [
        ("2025-11", dt.date(2025, 11, 1), dt.date(2025, 11, 30)),
        ("2025-12", dt.date(2025, 12, 1), dt.date(2025, 12, 31)),
        ("2026-01", dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
    ]


def test_wilson_interval_matches_the_textbook_values():
    low, high = m.wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    low, high = m.wilson_interval(100, 100)
    assert high == 1.0 and low == pytest.approx(0.9630, abs=1e-4)
    assert m.wilson_interval(0, 0) is None


@pytest.mark.parametrize(
    ("fiscal_start", "as_of", "expected"),
    [
        # Fiscal year from October, named for the year it ends in (US federal style).
        (
            10,
            dt.date(2026, 11, 26),
            [
                ("FY2026-Q3", "2026-04-01", "2026-06-30"),
                ("FY2026-Q4", "2026-07-01", "2026-09-30"),
                ("FY2027-Q1", "2026-10-01", "2026-11-26"),
            ],
        ),
        # From April (UK, India, Japan): 2026-04-01 .. 2027-03-31 is FY2027.
        (
            4,
            dt.date(2027, 2, 10),
            [
                ("FY2027-Q2", "2026-07-01", "2026-09-30"),
                ("FY2027-Q3", "2026-10-01", "2026-12-31"),
                ("FY2027-Q4", "2027-01-01", "2027-02-10"),
            ],
        ),
        (
            4,
            dt.date(2026, 4, 1),
            [
                ("FY2026-Q3", "2025-10-01", "2025-12-31"),
                ("FY2026-Q4", "2026-01-01", "2026-03-31"),
                ("FY2027-Q1", "2026-04-01", "2026-04-01"),
            ],
        ),
        # From February: quarters Feb-Apr, May-Jul, Aug-Oct, Nov-Jan (crossing the calendar year).
        (
            2,
            dt.date(2027, 1, 15),
            [
                ("FY2027-Q2", "2026-05-01", "2026-07-31"),
                ("FY2027-Q3", "2026-08-01", "2026-10-31"),
                ("FY2027-Q4", "2026-11-01", "2027-01-15"),
            ],
        ),
        # January is the calendar: the contract's labels.
        (
            1,
            dt.date(2026, 8, 15),
            [
                ("2026-Q1", "2026-01-01", "2026-03-31"),
                ("2026-Q2", "2026-04-01", "2026-06-30"),
                ("2026-Q3", "2026-07-01", "2026-08-15"),
            ],
        ),
    ],
)
def test_fiscal_quarters_start_in_the_fiscal_years_first_month(fiscal_start, as_of, expected):
    periods = periods_for(as_of, "quarter", 2, fiscal_start)
    assert [(p.label, p.start.isoformat(), p.end.isoformat()) for p in periods] == expected
    assert [p.is_current for p in periods] == [False, False, True]


def test_months_ignore_the_fiscal_year():
    assert [p.label for p in periods_for(dt.date(2026, 11, 26), "month", 1, 10)] == [
        "2026-10",
        "2026-11",
    ]


def test_the_year_to_date_follows_the_fiscal_year():
    from scoring.credits import period_months
    from scoring.periods import fiscal_year_label, fiscal_year_start

    as_of = dt.date(2026, 9, 20)
    assert (fiscal_year_start(as_of), fiscal_year_label(as_of)) == (dt.date(2026, 1, 1), "2026")
    assert (fiscal_year_start(as_of, 4), fiscal_year_label(as_of, 4)) == (
        dt.date(2026, 4, 1),
        "FY2027",
    )
    assert (fiscal_year_start(as_of, 10), fiscal_year_label(as_of, 10)) == (
        dt.date(2025, 10, 1),
        "FY2026",
    )
    periods = periods_for(as_of, "quarter", 4, 4)
    current, year = period_months(periods, fiscal_year_start(as_of, 4))
    assert current == ["2026-07", "2026-08", "2026-09"]
    assert year == ["2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]
