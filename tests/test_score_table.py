"""The score table against figures worked out by hand from the contract (section 3 and 4).

As of 2026-09-30, quarters, one history period: 2026-Q2 and 2026-Q3 (current).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from scoring.periods import periods_for
from scoring.table import CONTRACT_COLUMNS, score_table
from tests.builders import charge, item, make_config, request, scored, vendor

AS_OF = dt.date(2026, 9, 30)

ROWS = {
    "vendors": [vendor("A"), vendor("B", "onshore"), vendor("H", "in_house")],
    "work_items": [
        item(
            "w1",
            "A",
            "2026-07-01 00:00",
            "2026-07-02 00:00",
            "2026-07-01 12:00",
            units=10,
            qa=10,
            defects=1,
        ),
        item(
            "w2",
            "A",
            "2026-07-10 00:00",
            "2026-07-11 00:00",
            "2026-07-12 00:00",
            units=5,
            qa=5,
            reworked=True,
        ),
        # Still open: due in Q3, so it counts as late.
        item("w3", "A", "2026-09-29 00:00", "2026-09-30 00:00", None),
        # Due after the as-of day: not due in any period yet.
        item("w4", "A", "2026-09-30 00:00", "2026-10-01 12:00", None),
        # Due (and late) in Q2, completed in Q3.
        item("w5", "A", "2026-06-29 00:00", "2026-06-30 12:00", "2026-07-02 00:00", units=3),
        # Completed on a day no charge covers: not a billed unit.
        item("w6", "A", "2026-08-14 00:00", "2026-08-16 00:00", "2026-08-15 00:00", units=2, qa=2),
        # Completed after the as-of day: still open as far as this run knows.
        item("w8", "A", "2026-09-30 10:00", None, "2026-10-01 09:00"),
        item(
            "w7",
            "A",
            "2026-07-03 00:00",
            "2026-07-04 00:00",
            "2026-07-03 06:00",
            units=10,
            qa=10,
            process="billing",
        ),
        item("b1", "B", "2026-05-01 00:00", "2026-05-02 00:00", "2026-05-01 06:00", units=1, qa=1),
        item("h1", "H", "2026-07-05 00:00", "2026-07-06 00:00", "2026-07-05 12:00", units=4, qa=4),
    ],
    "requests": [
        request("r1", "A", "urgent", "2026-07-01 00:00", "2026-07-01 00:30"),
        request("r2", "A", "high", "2026-07-01 00:00", "2026-07-01 05:00"),
        # Unanswered, its 24 h target ends after the as-of day: left out.
        request("r3", "A", "normal", "2026-09-30 12:00", None),
        # Unanswered past its 72 h target: counts, not within.
        request("r4", "A", "low", "2026-09-20 00:00", None),
    ],
    "charges": [
        # 61 service days: 30 in Q2 and 31 in Q3.
        charge("c1", "A", "2026-06-01", "2026-07-31", 1220.0),
        charge(
            "c2", "A", "2026-07-01", "2026-07-10", -100.0, currency="USD", kind="service_credit"
        ),
        charge("h-c1", "H", "2026-07-01", "2026-07-31", 160.0),
    ],
}

# These hand-made rows hold a few items each: ranking them needs a threshold of one item.
CONFIG = make_config(
    in_house={"billing": {"salary": 10_000, "productive_hours": 1000, "units_per_hour": 1}},
    scoring={"min_rank_items": 1},
)


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return scored(ROWS, periods_for(AS_OF, "quarter", 1), CONFIG)


def row(table: pl.DataFrame, vendor_id: str, process: str, period: str) -> dict:
    found = table.filter(
        (pl.col("vendor_id") == vendor_id)
        & (pl.col("process") == process)
        & (pl.col("period") == period)
    ).to_dicts()
    assert len(found) == 1, (vendor_id, process, period, found)
    return found[0]


def test_the_contract_columns_come_first_in_order(table):
    assert table.columns[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS


def test_work_item_kpis_for_items_completed_and_due_in_the_period(table):
    r = row(table, "A", "support", "2026-Q3")
    assert r["work_items_completed"] == 4  # w1 w2 w5 w6; w8 finished after the cutoff
    assert r["units_completed"] == 20
    assert r["accuracy"] == pytest.approx(1 - 1 / 17, abs=1e-6)
    assert r["rework_rate"] == pytest.approx(0.25)
    assert (r["items_due"], r["items_on_time"]) == (4, 2)  # w1 w2 w3 w6; open w3 is late
    assert r["on_time_rate"] == pytest.approx(0.5)
    assert r["mean_turnaround_hours"] == pytest.approx((12 + 48 + 72 + 24) / 4)
    assert (r["period_start"], r["period_end"], r["is_current"]) == (
        dt.date(2026, 7, 1),
        AS_OF,
        True,
    )


def test_request_kpis_leave_out_requests_still_inside_their_target(table):
    r = row(table, "A", "support", "2026-Q3")
    assert r["requests_opened"] == 4
    assert r["mean_first_response_hours"] == pytest.approx((0.5 + 5) / 2)
    assert (r["requests_within_target"], r["requests_target_due"]) == (1, 3)
    assert r["response_within_target_rate"] == pytest.approx(1 / 3, abs=1e-6)


def test_charges_are_spread_over_their_days_across_periods_and_converted(table):
    q3 = row(table, "A", "support", "2026-Q3")
    q2 = row(table, "A", "support", "2026-Q2")
    assert q3["spend"] == pytest.approx(1220 * 31 / 61 - 100 * 0.9, abs=0.005)
    assert q2["spend"] == pytest.approx(1220 * 30 / 61, abs=0.005)


def test_cost_per_unit_uses_units_completed_on_billed_days_only(table):
    r = row(table, "A", "support", "2026-Q3")
    assert r["billed_units"] == 18  # w6 (2 units) was completed on an unbilled day
    spend = 1220 * 31 / 61 - 90
    assert r["cost_per_unit"] == pytest.approx(spend / 18, abs=1e-4)
    assert r["tco_per_unit"] == pytest.approx(spend / 18 * 1.1, abs=1e-4)


def test_in_house_cost_is_measured_from_in_house_charges_and_compared(table):
    r = row(table, "A", "support", "2026-Q3")
    tco = (1220 * 31 / 61 - 90) / 18 * 1.1
    assert r["in_house_cost_per_unit"] == pytest.approx(40.0)  # 160 EUR / 4 units
    assert r["cost_ratio"] == pytest.approx(tco / 40, abs=1e-6)
    assert r["savings_vs_in_house"] == pytest.approx((40 - tco) * 20, abs=0.01)
    assert r["cost_score"] == pytest.approx((1.10 - tco / 40) / 0.5 * 100, abs=0.01)


def test_in_house_rows_cost_their_own_in_house_cost(table):
    r = row(table, "H", "support", "2026-Q3")
    assert r["tco_per_unit"] == pytest.approx(40.0)
    assert r["cost_ratio"] == pytest.approx(1.0)
    assert r["savings_vs_in_house"] == pytest.approx(0.0)
    assert r["rank"] is None


def test_without_in_house_charges_the_configured_model_is_used(table):
    r = row(table, "A", "billing", "2026-Q3")
    assert r["in_house_cost_per_unit"] == pytest.approx(10.0)  # 10,000 / (1000 h x 1 unit/h)
    # No charge covers billing, so its own cost per unit and every cost KPI is null.
    assert r["cost_per_unit"] is None and r["cost_ratio"] is None and r["cost_score"] is None
    assert r["savings_vs_in_house"] is None


def test_null_denominators_give_null_kpis_and_scores(table):
    r = row(table, "A", "support", "2026-Q2")
    assert r["work_items_completed"] == 0
    assert r["accuracy"] is None and r["rework_rate"] is None and r["mean_turnaround_hours"] is None
    assert r["response_within_target_rate"] is None and r["cost_per_unit"] is None
    assert (r["items_due"], r["on_time_rate"], r["speed_score"]) == (1, 0.0, 0.0)


def test_all_rows_sum_numerators_and_denominators_over_processes(table):
    r = row(table, "A", "ALL", "2026-Q3")
    assert (r["work_items_completed"], r["units_completed"]) == (5, 30)
    assert r["accuracy"] == pytest.approx(1 - 1 / 27, abs=1e-6)
    assert r["rework_rate"] == pytest.approx(1 / 5)
    assert r["on_time_rate"] == pytest.approx(3 / 5)
    spend = 1220 * 31 / 61 - 90
    assert r["spend"] == pytest.approx(spend, abs=0.005)
    assert r["cost_per_unit"] == pytest.approx(spend / 18, abs=1e-4)
    # Only support has both a TCO and an in-house cost.
    assert r["in_house_cost_per_unit"] == pytest.approx(40.0)
    assert r["cost_ratio"] == pytest.approx(spend / 18 * 1.1 / 40, abs=1e-6)
    assert r["savings_vs_in_house"] == pytest.approx((40 - spend / 18 * 1.1) * 20, abs=0.01)


def test_all_row_scores_composite_standing_and_rank(table):
    r = row(table, "A", "ALL", "2026-Q3")
    accuracy_score = ((1 - 1 / 27) - 0.95) / 0.045 * 100
    cost_score = (1.10 - (1220 * 31 / 61 - 90) / 18 * 1.1 / 40) / 0.5 * 100
    assert r["accuracy_score"] == pytest.approx(accuracy_score, abs=0.01)
    assert r["speed_score"] == 0.0 and r["responsiveness_score"] == 0.0
    composite = (accuracy_score * 30 + cost_score * 25) / 100
    assert r["composite_score"] == round(composite)  # written as the reports show it
    assert r["standing"] == "critical"
    assert r["rank"] == 1  # B is not scored this period, H is in-house


def test_a_vendor_without_activity_in_a_period_is_not_scored(table):
    r = row(table, "B", "ALL", "2026-Q3")
    assert r["work_items_completed"] == 0 and r["composite_score"] is None
    assert r["standing"] == "not scored" and r["rank"] is None
    assert table.filter((pl.col("vendor_id") == "B") & (pl.col("process") == "support")).height == 1


def test_ranks_order_outsourced_vendors_by_composite_within_a_period(table):
    b = row(table, "B", "ALL", "2026-Q2")
    a = row(table, "A", "ALL", "2026-Q2")
    assert b["composite_score"] == pytest.approx(100.0) and b["standing"] == "excellent"
    assert a["composite_score"] == pytest.approx(0.0) and a["standing"] == "critical"
    # A completed nothing in Q2 (its one item due there was late and done in Q3): scored
    # on that late item, but below any item threshold, so listed unranked.
    assert a["work_items_completed"] == 0
    assert (b["rank"], a["rank"]) == (1, None)
    assert row(table, "H", "ALL", "2026-Q3")["rank"] is None


def test_in_house_all_row_is_scored_like_a_vendor(table):
    r = row(table, "H", "ALL", "2026-Q3")
    # The baseline is not scored against itself on cost: accuracy, speed and responsiveness.
    assert r["cost_score"] is None
    assert r["composite_score"] == pytest.approx((100 * 30 + 100 * 25) / 55)
    assert r["standing"] == "excellent"


def test_ties_share_a_rank():
    rows = {
        "vendors": [vendor("X"), vendor("Y")],
        "work_items": [
            item("x1", "X", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 06:00", qa=1),
            item("y1", "Y", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 06:00", qa=1),
        ],
    }
    config = make_config(scoring={"min_rank_items": 1})
    table = scored(rows, periods_for(AS_OF, "quarter", 0), config)
    ranks = table.filter(pl.col("process") == "ALL").get_column("rank").to_list()
    assert ranks == [1, 1]


def test_weights_and_bands_come_from_the_config():
    rows = {"vendors": [vendor("X")], "work_items": [
        item("x1", "X", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-03 00:00", units=100, qa=100, defects=2)
    ]}  # fmt: skip
    config = make_config(scoring={"weights": {"accuracy": 1, "speed": 0, "cost": 0, "responsiveness": 0},
                                  "bands": {"accuracy": {"floor": 0.9, "target": 1.0}}})  # fmt: skip
    table = scored(rows, periods_for(AS_OF, "quarter", 0), config)
    r = table.filter(pl.col("process") == "ALL").row(0, named=True)
    assert r["accuracy_score"] == pytest.approx(80.0)
    assert r["speed_score"] == 0.0
    assert r["composite_score"] == pytest.approx(80.0)


def _items(vendor_id: str, count: int, day: str = "2026-07-01", process: str = "support",
           late: int = 0, defects: int = 0) -> list[dict]:  # fmt: skip
    """`count` items due and completed on one day, the first `late` of them late."""
    return [
        item(
            f"{vendor_id}-{process}-{day}-{k}",
            vendor_id,
            f"{day} 00:00",
            f"{day} 12:00",
            f"{day} 13:00" if k < late else f"{day} 06:00",
            qa=1,
            defects=int(k < defects),
            process=process,
        )
        for k in range(count)
    ]


def test_a_vendor_with_five_items_is_listed_but_not_ranked_under_the_default_threshold():
    rows = {
        "vendors": [vendor("TINY"), vendor("BIG")],
        # Five perfect items would be #1 "excellent 100" if it could rank.
        "work_items": _items("TINY", 5) + _items("BIG", 40, late=8, defects=2),
    }
    table = scored(rows, periods_for(AS_OF, "quarter", 0), make_config())
    tiny, big = row(table, "TINY", "ALL", "2026-Q3"), row(table, "BIG", "ALL", "2026-Q3")
    assert tiny["composite_score"] == pytest.approx(100.0) and tiny["rank"] is None
    assert big["composite_score"] < 100 and big["rank"] == 1


def test_a_one_process_in_house_team_has_the_same_scores_in_its_process_and_all_rows():
    rows = {
        "vendors": [vendor("IH", "in_house"), vendor("OUT")],
        "work_items": _items("IH", 40, process="payroll", late=2)
        + _items("OUT", 40, process="payroll"),
        "charges": [
            charge("ih-c", "IH", "2026-07-01", "2026-07-31", 400.0, process="payroll"),
            charge("out-c", "OUT", "2026-07-01", "2026-07-31", 300.0, process="payroll"),
        ],
    }
    table = scored(rows, periods_for(AS_OF, "quarter", 0), make_config())
    process_row, all_row = (
        row(table, "IH", "payroll", "2026-Q3"),
        row(table, "IH", "ALL", "2026-Q3"),
    )
    assert process_row["cost_ratio"] == pytest.approx(1.0) and process_row["cost_score"] is None
    for column in ["accuracy_score", "speed_score", "cost_score", "responsiveness_score",
                   "composite_score", "standing"]:  # fmt: skip
        assert process_row[column] == all_row[column], column
    # The outsourced vendor is still scored on cost against that baseline.
    assert row(table, "OUT", "payroll", "2026-Q3")["cost_score"] is not None


def test_a_change_on_forty_items_that_is_noise_is_not_flagged_and_a_real_one_is():
    periods = periods_for(AS_OF, "quarter", 1)
    rows = {
        "vendors": [vendor("NOISY"), vendor("REAL")],
        # 75 % -> 65 % on time on 40 items each: well within what chance gives.
        "work_items": _items("NOISY", 40, "2026-05-04", late=10)
        + _items("NOISY", 40, "2026-08-04", late=14)
        # 99 % -> 80 % on 400 items each: real.
        + _items("REAL", 400, "2026-05-04", late=4)
        + _items("REAL", 400, "2026-08-04", late=80),
    }
    table = scored(rows, periods, make_config())
    noisy, real = row(table, "NOISY", "ALL", "2026-Q3"), row(table, "REAL", "ALL", "2026-Q3")
    assert noisy["previous_on_time_rate"] == pytest.approx(0.75)
    assert noisy["on_time_rate"] == pytest.approx(0.65)
    assert abs(noisy["on_time_rate_change_z"]) < 1.0
    assert noisy["on_time_rate_change_significant"] is False
    assert real["on_time_rate_change_significant"] is True
    assert real["on_time_rate_change_z"] < -2.576
    assert real["composite_change_significant"] is True
    # The oldest period has nothing to compare with: not tested, not "no change".
    first = row(table, "REAL", "ALL", "2026-Q2")
    assert (
        first["previous_on_time_rate"] is None and first["on_time_rate_change_significant"] is None
    )


def test_the_change_columns_follow_the_contract_columns_the_inputs_and_the_median(table):
    from scoring.significance import SIGNIFICANCE_COLUMNS
    from scoring.table import INPUT_COLUMNS

    assert table.columns == [
        *CONTRACT_COLUMNS,
        *INPUT_COLUMNS,
        "median_turnaround_hours",
        *SIGNIFICANCE_COLUMNS,
    ]


def test_movers_are_ranked_vendors_whose_change_is_real():
    from reports.build import ReportInputs, build_portfolio, report_slugs
    from tests.builders import extracted

    periods = periods_for(AS_OF, "quarter", 1)
    rows = {
        "vendors": [vendor("TINY"), vendor("NOISY"), vendor("REAL")],
        # 0 % -> 100 % on time, but on 5 items: not ranked, so never a mover.
        "work_items": _items("TINY", 5, "2026-05-04", late=5)
        + _items("TINY", 5, "2026-08-04")
        + _items("NOISY", 40, "2026-05-04", late=10)
        + _items("NOISY", 40, "2026-08-04", late=14)
        + _items("REAL", 400, "2026-05-04", late=4)
        + _items("REAL", 400, "2026-08-04", late=80),
    }
    config = make_config()
    data = extracted(rows, periods, config)
    table = score_table(data, periods, config)
    inputs = ReportInputs(table, data, periods, config, AS_OF)
    summary = build_portfolio(inputs, report_slugs(table), {})["summary"]
    assert [(m["name"], m["direction"]) for m in summary["movers"]] == [("Vendor REAL", "slipping")]
    assert summary["unranked"] == 1


def test_a_deadline_at_the_end_of_the_as_of_day_has_not_passed():
    """One rule for both boundaries: the end of the as-of day (midnight after it) has not
    happened yet, neither for a response at that instant nor for a deadline there."""
    rows = {
        "vendors": [vendor("D")],
        "work_items": [item("d1", "D", "2026-09-29 00:00", "2026-10-01 00:00", None)],
        "requests": [
            # Normal: 24 h target, ends exactly at the cutoff; unanswered, not yet late.
            request("r-at", "D", "normal", "2026-09-30 00:00", None),
            # Answered at the cutoff: not yet happened either; its target ends at the cutoff.
            request("r-answer-at", "D", "normal", "2026-09-30 00:00", "2026-10-01 00:00"),
            # One second earlier, the target has passed: counted, not within.
            request("r-before", "D", "normal", "2026-09-29 23:59:59", None),
        ],
    }
    table = scored(rows, periods_for(AS_OF, "quarter", 0), make_config())
    r = row(table, "D", "support", "2026-Q3")
    assert (r["requests_within_target"], r["requests_target_due"]) == (0, 1)
    # Due at the cutoff: not due in the period, so not late either.
    assert r["items_due"] == 0 and r["on_time_rate"] is None


def test_the_standing_is_decided_on_the_composite_as_shown():
    config = make_config(
        scoring={
            "weights": {"accuracy": 1, "speed": 0, "cost": 0, "responsiveness": 0},
            "bands": {"accuracy": {"floor": 0.0, "target": 1.0}},
        }
    )
    rows = {"vendors": [vendor("S")], "work_items": [
        item("s1", "S", "2026-07-01 00:00", "2026-07-02 00:00", "2026-07-01 06:00",
             units=100_000, qa=100_000, defects=30_001)
    ]}  # fmt: skip
    table = scored(rows, periods_for(AS_OF, "quarter", 0), config)
    r = row(table, "S", "ALL", "2026-Q3")
    # Accuracy 0.69999 scores 69.999, shown as 70: so the standing is "good", not "watch".
    assert r["composite_score"] == 70.0
    assert r["standing"] == "good"
