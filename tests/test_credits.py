"""Service levels and credits (contract section 9): one test per rule, inline data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scorecard.config import config_from_mapping
from scorecard.errors import ConfigError
from scoring.catalogue import check_config
from scoring.credits import (
    SERVICE_CREDIT_COLUMNS,
    ServiceCredits,
    earn_back_statuses,
    service_credits,
)
from scoring.periods import months_of, periods_for
from scoring.table import billed_days, mark_billed

RATES = {"EUR": 1.0, "USD": 0.5}
VENDORS = pl.DataFrame({"vendor_id": ["V1", "V2"], "name": ["Vendor One", "Vendor Two"]})
# July to September 2026, all over (as of 30 September).
MONTHS = months_of(periods_for(dt.date(2026, 9, 30), "quarter", 0))
KPIS = ["accuracy", "on_time_rate", "response_within_target_rate", "rework_rate",
        "mean_turnaround_hours", "mean_first_response_hours"]  # fmt: skip


def monthly(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A monthly KPI table: each row names vendor, process, month and some KPIs."""
    full = [{"vendor_id": "V1", "process": "support", **{k: None for k in KPIS}, **r} for r in rows]
    return pl.DataFrame(full, schema={"vendor_id": pl.String, "process": pl.String,
                                      "period": pl.String, **{k: pl.Float64 for k in KPIS}})  # fmt: skip


def fee(start: str, end: str, amount: float, vendor: str = "V1", currency: str = "EUR",
        kind: str = "fee", process: str = "support") -> dict[str, Any]:  # fmt: skip
    return {"charge_id": f"c{start}{amount}{kind}", "vendor_id": vendor, "process": process,
            "service_start": dt.date.fromisoformat(start),
            "service_end": dt.date.fromisoformat(end), "amount": amount, "currency": currency,
            "kind": kind}  # fmt: skip


def charges(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema={
        "charge_id": pl.String, "vendor_id": pl.String, "process": pl.String,
        "service_start": pl.Date, "service_end": pl.Date, "amount": pl.Float64,
        "currency": pl.String, "kind": pl.String})  # fmt: skip


def checked(data: dict[str, Any]) -> Any:
    """The config as a run loads it: read, then checked against the KPI catalogue."""
    config = config_from_mapping(data)
    check_config(config)
    return config


def contract(levels: list[dict[str, Any]], at_risk_pct: float = 0.1, earn_back: int = 0) -> Any:
    config = checked(
        {
            "contracts": {
                "V1": {
                    "at_risk_pct": at_risk_pct,
                    "earn_back_months": earn_back,
                    "service_levels": levels,
                }
            }
        }
    )
    return config.contracts


ON_TIME = {"name": "On time", "process": "support", "kpi": "on_time_rate", "minimum": 0.95,
           "allocation_pct": 60}  # fmt: skip
ACCURATE = {"name": "Accurate", "process": "support", "kpi": "accuracy", "minimum": 0.99,
            "allocation_pct": 70}  # fmt: skip
MONTHLY_FEE = [fee("2026-07-01", "2026-07-31", 10_000), fee("2026-08-01", "2026-08-31", 10_000),
               fee("2026-09-01", "2026-09-30", 10_000)]  # fmt: skip


def run(kpis: list[dict[str, Any]], contracts: Any, fees: pl.DataFrame | None = None,
        months: Any = MONTHS) -> ServiceCredits:  # fmt: skip
    return service_credits(
        monthly(kpis), fees if fees is not None else charges(*MONTHLY_FEE), VENDORS, months,
        contracts, RATES,
    )  # fmt: skip


def rows(result: ServiceCredits, level: str | None = None) -> list[dict[str, Any]]:
    frame = result.levels
    if level:
        frame = frame.filter(pl.col("service_level") == level)
    return frame.to_dicts()


def test_columns_are_exactly_those_of_the_contract():
    result = run([{"period": "2026-07", "on_time_rate": 0.9}], contract([ON_TIME]))
    assert result.levels.columns == SERVICE_CREDIT_COLUMNS
    assert result.levels.height == 3  # one level x three months


def test_a_missed_level_costs_its_allocation_of_the_at_risk_amount():
    result = run([{"period": "2026-07", "on_time_rate": 0.9},
                  {"period": "2026-08", "on_time_rate": 0.97}], contract([ON_TIME]))  # fmt: skip
    july, august, september = rows(result)
    assert (july["fees"], july["at_risk_amount"]) == (10_000, 1_000)
    assert (july["met"], july["credit"], july["status"]) == (False, 600, "due")
    assert (august["met"], august["credit"], august["status"]) == (True, 0, "met")
    # Nothing measured in September: not a breach.
    assert (september["actual"], september["met"], september["status"]) == (
        None,
        None,
        "not_measured",
    )
    assert september["credit"] == 0


def test_a_pool_over_100_percent_is_capped_and_scaled_to_the_at_risk_amount_exactly():
    third = {**ON_TIME, "name": "Third", "kpi": "response_within_target_rate", "allocation_pct": 33}
    # A level met in the same month takes no part in the scaling.
    met = {"name": "Rework", "process": "support", "kpi": "rework_rate", "maximum": 0.1,
           "allocation_pct": 50}  # fmt: skip
    fees = charges(fee("2026-07-01", "2026-07-31", 3_333.33))
    result = run([{"period": "2026-07", "on_time_rate": 0.5, "accuracy": 0.5,
                   "response_within_target_rate": 0.1, "rework_rate": 0.05}],
                 contract([met, ON_TIME, ACCURATE, third]), fees)  # fmt: skip
    july = [r for r in rows(result) if r["month"] == "2026-07"]
    at_risk = july[0]["at_risk_amount"]
    assert at_risk == 333.33
    assert (july[0]["met"], july[0]["credit"]) == (True, 0)
    credits = [r["credit"] for r in july[1:]]
    assert round(sum(credits), 2) == at_risk
    # In proportion to 60 : 70 : 33 of 163 (to the cent).
    assert credits == pytest.approx(
        [at_risk * 60 / 163, at_risk * 70 / 163, at_risk * 33 / 163], abs=0.01
    )


def test_a_pool_under_its_at_risk_amount_is_not_scaled():
    result = run([{"period": "2026-07", "on_time_rate": 0.5, "accuracy": 0.999}],
                 contract([ON_TIME, ACCURATE]))  # fmt: skip
    july = [r for r in rows(result) if r["month"] == "2026-07"]
    assert [r["credit"] for r in july] == [600, 0]


def test_earn_back_statuses_skip_null_months():
    # Missed, then a null month (skipped), then met twice: earned back with N = 2.
    assert earn_back_statuses([False, None, True, True], [True] * 4, 2) == [
        "earned_back", "not_measured", "met", "met"]  # fmt: skip
    # Missed, then met, then missed: due.
    assert earn_back_statuses([False, True, False], [True] * 3, 2)[0] == "due"
    # Missed, then only one measured month (and a null one): pending.
    assert earn_back_statuses([False, None, True], [True] * 3, 2)[0] == "pending"
    # A month not yet over does not count towards earning back.
    assert earn_back_statuses([False, True, True], [True, True, False], 2)[0] == "pending"
    # Without earn-back, every miss is due.
    assert earn_back_statuses([False], [True], 0) == ["due"]


def test_earn_back_in_the_credit_table():
    result = run([{"period": "2026-07", "on_time_rate": 0.9},
                  {"period": "2026-08"},
                  {"period": "2026-09", "on_time_rate": 0.99}], contract([ON_TIME], earn_back=1))  # fmt: skip
    assert [r["status"] for r in rows(result)] == ["earned_back", "not_measured", "met"]
    month = result.months.row(0, named=True)
    assert (month["due"], month["earned_back"], month["unclaimed"]) == (0, 600, 0)
    missed_again = run([{"period": "2026-07", "on_time_rate": 0.9},
                        {"period": "2026-08", "on_time_rate": 0.9}], contract([ON_TIME], earn_back=1))  # fmt: skip
    assert [r["status"] for r in rows(missed_again)] == ["due", "pending", "not_measured"]


def test_the_current_month_is_provisional_and_its_fees_stop_at_the_as_of_day():
    months = months_of(periods_for(dt.date(2026, 10, 10), "quarter", 0))
    assert [m.label for m in months] == ["2026-10"]
    fees = charges(fee("2026-10-01", "2026-10-31", 3_100))
    result = run([{"period": "2026-10", "on_time_rate": 0.9}], contract([ON_TIME]), fees, months)
    october = rows(result)[0]
    assert october["provisional"] is True
    assert october["fees"] == 1_000  # 10 of 31 days
    assert (october["credit"], october["status"]) == (60, "due")
    # The last day of a month as the as-of day: the month is over.
    last_day = months_of(periods_for(dt.date(2026, 10, 31), "month", 0))
    assert rows(run([], contract([ON_TIME]), fees, last_day))[0]["provisional"] is False


def test_fees_are_spread_over_a_charge_crossing_two_months():
    # 62 days, 31 in July and 31 in August.
    fees = charges(fee("2026-07-01", "2026-08-31", 6_200))
    result = run([], contract([ON_TIME]), fees)
    assert [r["fees"] for r in rows(result)] == [3_100, 3_100, 0]


def test_one_off_and_credit_charges_are_not_fees():
    fees = charges(fee("2026-07-01", "2026-07-31", 1_000),
                   fee("2026-07-01", "2026-07-31", 5_000, kind="one_off"),
                   fee("2026-07-01", "2026-07-31", -300, kind="service_credit"),
                   fee("2026-07-01", "2026-07-31", 9_999, vendor="V2"))  # fmt: skip
    assert rows(run([], contract([ON_TIME]), fees))[0]["fees"] == 1_000


def test_fees_in_several_currencies_are_added_in_the_base_currency():
    fees = charges(fee("2026-07-01", "2026-07-31", 1_000),
                   fee("2026-07-01", "2026-07-31", 1_000, currency="USD", process="billing"))  # fmt: skip
    july = rows(run([{"period": "2026-07", "on_time_rate": 0.5}], contract([ON_TIME]), fees))[0]
    assert (july["fees"], july["at_risk_amount"], july["credit"]) == (1_500, 150, 90)


def test_a_level_on_all_reads_the_vendor_level_row():
    level = {**ON_TIME, "process": "ALL"}
    kpis = [{"period": "2026-07", "on_time_rate": 0.99},
            {"period": "2026-07", "process": "ALL", "on_time_rate": 0.9}]  # fmt: skip
    july = rows(run(kpis, contract([level])))[0]
    assert (july["process"], july["actual"], july["met"], july["credit"]) == (
        "ALL",
        0.9,
        False,
        600,
    )


def test_a_maximum_level_is_missed_above_it():
    level = {"name": "Fast", "process": "support", "kpi": "mean_turnaround_hours", "maximum": 24,
             "allocation_pct": 50}  # fmt: skip
    result = run([{"period": "2026-07", "mean_turnaround_hours": 30},
                  {"period": "2026-08", "mean_turnaround_hours": 24}], contract([level]))  # fmt: skip
    assert [r["met"] for r in rows(result)] == [False, True, None]


def test_invoiced_credits_reduce_unclaimed_but_never_below_zero():
    fees = charges(*MONTHLY_FEE,
                   fee("2026-07-01", "2026-07-31", -200, kind="service_credit"),
                   fee("2026-08-01", "2026-08-31", -900, kind="service_credit"))  # fmt: skip
    result = run([{"period": "2026-07", "on_time_rate": 0.9},
                  {"period": "2026-08", "on_time_rate": 0.9}], contract([ON_TIME]), fees)  # fmt: skip
    july, august, _ = result.months.to_dicts()
    assert (july["due"], july["credited"], july["unclaimed"]) == (600, 200, 400)
    assert (august["due"], august["credited"], august["unclaimed"]) == (600, 900, 0)


def test_a_contract_for_an_unknown_vendor_is_left_out():
    config = config_from_mapping(
        {"contracts": {"NOPE": {"at_risk_pct": 0.1, "service_levels": [ON_TIME]}}}
    )
    result = run([], config.contracts)
    assert result.levels.is_empty() and result.levels.columns == SERVICE_CREDIT_COLUMNS


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (
            {**ON_TIME, "kpi": "mean_turnaround_hours"},
            "minimum: mean_turnaround_hours is better when lower",
        ),
        (
            {**ON_TIME, "minimum": None, "maximum": 0.9},
            "maximum: on_time_rate is better when higher",
        ),
        ({**ON_TIME, "minimum": 95}, "minimum: on_time_rate is a fraction 0-1"),
        ({**ON_TIME, "allocation_pct": 0}, "allocation_pct"),
        (
            {k: v for k, v in ON_TIME.items() if k != "minimum"},
            "give exactly one of minimum or maximum",
        ),
    ],
)
def test_contract_config_errors_name_the_key(level, message):
    level = {k: v for k, v in level.items() if v is not None}
    with pytest.raises(ConfigError, match=r"contracts\.V1\.service_levels\.0") as error:
        contract([level])
    assert message in str(error.value)


def test_an_open_ended_charge_is_one_range_not_one_row_per_day():
    open_ended = charges(fee("2020-01-01", "9999-12-31", 100))
    ranges = billed_days(open_ended, dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert ranges.height == 1
    assert ranges.row(0, named=True)["last"] == dt.date(2026, 9, 30)
    item_days = pl.DataFrame({"vendor_id": ["V1", "V1", "V1"], "process": ["support"] * 3,
                              "completed_day": [dt.date(2026, 7, 3), dt.date(2019, 1, 1), None]})  # fmt: skip
    assert mark_billed(item_days, open_ended).get_column("billed").to_list() == [True, False, False]


def test_the_worked_example_of_the_docs():
    """The worked example's numbers in docs/computation.md, computed by the job (keep the two in step)."""
    months = months_of(periods_for(dt.date(2026, 6, 30), "month", 3))
    assert [m.label for m in months] == ["2026-03", "2026-04", "2026-05", "2026-06"]
    levels = [
        {"name": "On time", "process": "support", "kpi": "on_time_rate", "minimum": 0.95, "allocation_pct": 60},
        {"name": "Answered in target", "process": "support", "kpi": "response_within_target_rate", "minimum": 0.90, "allocation_pct": 40},
        {"name": "Accurate", "process": "support", "kpi": "accuracy", "minimum": 0.98, "allocation_pct": 30},
    ]  # fmt: skip
    kpis = [
        {"period": "2026-03", "on_time_rate": 0.91, "response_within_target_rate": 0.93, "accuracy": 0.97},
        {"period": "2026-04", "on_time_rate": 0.90, "response_within_target_rate": 0.85, "accuracy": 0.96},
        {"period": "2026-05", "on_time_rate": 0.96, "response_within_target_rate": 0.92, "accuracy": 0.99},
        {"period": "2026-06", "on_time_rate": 0.97, "response_within_target_rate": 0.95, "accuracy": 0.99},
    ]  # fmt: skip
    fees = charges(*[fee(m.start.isoformat(), m.end.isoformat(), 50_000) for m in months],
                   fee("2026-03-01", "2026-03-31", -2_000, kind="service_credit"))  # fmt: skip
    result = run(kpis, contract(levels, at_risk_pct=0.12, earn_back=2), fees, months)
    by_month: dict[str, list[dict[str, Any]]] = {}
    for row in rows(result):
        by_month.setdefault(row["month"], []).append(row)
    assert {r["at_risk_amount"] for r in rows(result)} == {6_000}
    assert [(r["credit"], r["status"]) for r in by_month["2026-03"]] == [
        (3_600, "due"), (0, "met"), (1_800, "due")]  # fmt: skip
    assert [(r["credit"], r["status"]) for r in by_month["2026-04"]] == [
        (2_769.23, "earned_back"), (1_846.15, "earned_back"), (1_384.62, "earned_back")]  # fmt: skip
    assert sum(r["credit"] for r in by_month["2026-04"]) == pytest.approx(6_000, abs=1e-9)
    march = result.months.row(0, named=True)
    assert (march["due"], march["credited"], march["unclaimed"]) == (5_400, 2_000, 3_400)
    page = (Path(__file__).resolve().parents[1] / "docs" / "computation.md").read_text("utf-8")
    section = page[page.index("**Worked example**") :][:1600]
    for figure in ("50,000 EUR", "6,000 EUR", "3,600.00", "1,800.00", "5,400.00", "7,800",
                   "2,769.23", "1,846.15", "1,384.62", "6,000.00", "2,000.00", "3,400.00 EUR"):  # fmt: skip
        assert figure in section, figure


def test_the_credit_rows_and_the_vendor_email_name_the_process_in_words_not_its_code():
    from types import SimpleNamespace

    from reports.credits import portfolio_credits, vendor_credits
    from reports.mail import vendor_text

    desk = {**ON_TIME, "process": "it_service_desk"}
    kpis = [{"period": m, "process": "it_service_desk", "on_time_rate": 0.9}
            for m in ("2026-07", "2026-08", "2026-09")]  # fmt: skip
    result = run(kpis, contract([desk]))
    periods = periods_for(dt.date(2026, 9, 30), "quarter", 0)
    vendor = vendor_credits(result, "V1", periods, "EUR")
    portfolio = portfolio_credits(result, periods, {}, "EUR")
    assert vendor is not None and portfolio is not None
    shown = [r["process"] for r in vendor["levels"] + portfolio["missed"]]
    assert shown and set(shown) == {"IT service desk"}
    ctx = SimpleNamespace(period_label="Q3 2026", period_range="1 Jul to 30 Sep", generated="Now")
    model = {"ctx": ctx, "heading": "Vendor One", "composite": "70", "standing": "Good",
             "rank": "1 of 2", "change": "+1", "dimensions": [], "recommendation": None,
             "has_contract": True, "missed": vendor["levels"], "notice": None,
             "attachment_name": "scorecard", "early": ""}  # fmt: skip
    text = vendor_text(model)
    assert "(IT service desk)" in text and "it_service_desk" not in text


def test_a_miss_in_a_month_not_over_is_a_provisional_miss_never_credit_due():
    from reports.credits import status_title

    assert status_title("due", provisional=True) == "provisional miss: month not over"
    assert status_title("pending", provisional=True) == "provisional miss: month not over"
    assert status_title("due", provisional=False) == "credit due"
    assert status_title("met", provisional=True) == "met"


@pytest.mark.parametrize(
    ("year_start", "year_label", "expected"),
    [
        # The run reads the fiscal year from its first month (April): "to date" is true.
        (dt.date(2026, 4, 1), "FY2027", "FY2027 to date"),
        # A calendar year whose January the run does not read: the months it does read.
        (dt.date(2026, 1, 1), "2026", "2026 from 2026-04 to 2026-09 (earlier months not read)"),
    ],
)
def test_the_year_tile_never_claims_more_months_than_the_run_reads(
    year_start, year_label, expected
):
    from reports.credits import span_labels
    from scoring.credits import ServiceCredits

    periods = periods_for(dt.date(2026, 9, 30), "quarter", 1)
    credits = ServiceCredits(pl.DataFrame(), pl.DataFrame(), year_start, year_label)
    assert span_labels(periods, credits)["year"] == expected


@pytest.mark.parametrize(
    ("monthly_fee", "allocation_pct", "at_risk", "credit"),
    [
        # 10.25 x 0.1 = 1.025 exactly: half to even gives 1.02 (as floats, 1.0250000000000001).
        (10.25, 100, 1.02, 1.02),
        # 3.5 x 0.1 = 0.35; 10 % of it = 0.035 exactly: half to even gives 0.04 (floats: 0.03).
        (3.5, 10, 0.35, 0.04),
        # 1.4 x 0.1 = 0.14; 75 % of it = 0.105 exactly: half to even gives 0.10 (floats: 0.11).
        (1.4, 75, 0.14, 0.10),
    ],
)
def test_at_risk_amounts_and_credits_are_exact_and_rounded_once_half_to_even(
    monthly_fee: float, allocation_pct: int, at_risk: float, credit: float
):
    level = {**ON_TIME, "allocation_pct": allocation_pct}
    fees = charges(fee("2026-07-01", "2026-07-31", monthly_fee))
    july = rows(run([{"period": "2026-07", "on_time_rate": 0.5}], contract([level]), fees))[0]
    assert (july["fees"], july["at_risk_amount"], july["credit"]) == (monthly_fee, at_risk, credit)
