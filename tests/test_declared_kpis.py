"""KPIs a company declares (contract section 10): extra columns, rates and means, computed in
the database with the other sums, scored, tested, and usable as service levels."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from sqlalchemy import create_engine, text

from output.tables import csv_bytes
from scorecard.errors import ConfigError, SourceError
from scoring.catalogue import BUILT_IN_CATALOGUE, catalogue, check_config
from scoring.periods import periods_for
from scoring.scored import score
from scoring.table import CONTRACT_COLUMNS
from tests.builders import charge, extracted_from, item, load, make_config, vendor

PERIODS = periods_for(dt.date(2026, 7, 31), "month", 1)

ROWS = {
    "vendors": [vendor("A", name="Acme Contact")],
    "work_items": [
        item("w0", "A", "2026-06-10 09:00", None, "2026-06-15 09:00"),
        item("w1", "A", "2026-07-01 09:00", "2026-07-02 12:00", "2026-07-02 09:00", reworked=True),
        item("w2", "A", "2026-07-01 09:00", None, "2026-07-03 09:00"),
        item("w3", "A", "2026-07-01 09:00", None, "2026-07-04 09:00"),
        item("w4", "A", "2026-07-01 09:00", None, "2026-07-05 09:00"),
        item("w5", "A", "2026-07-01 09:00", "2026-07-10 09:00", None),
        item("w6", "A", "2026-07-02 09:00", None, "2026-07-06 09:00", process="billing"),
    ],
    "requests": [],
    "charges": [charge("c1", "A", "2026-06-01", "2026-07-31", 2000.0)],
}
# Per work item: satisfaction and handle time held as text (a CSV export), contacts typed.
EXTRA = {
    "w0": ("5", "60", 1),
    "w1": ("5", "300", 1),
    "w2": ("3", "600", 2),
    "w3": (None, "120", 1),
    "w4": ("x", "abc", 1),  # dirty: null for the KPIs that use it, counted, row accepted
    "w5": ("4", None, 3),
    "w6": (" 4 ", "60", 1),
}

EXTRA_COLUMNS = {
    "csat": {"column": "u_satisfaction", "type": "integer"},
    "handle_seconds": {"column": "aht_s", "type": "number"},
    "contacts": {"column": "contact_count", "type": "integer"},
}


def _load(url: str, rows: Any = ROWS, extra: Any = EXTRA) -> None:
    """The rows, then their extra columns (text, as a CSV export holds them) filled in."""
    load(url, rows)
    engine = create_engine(url)
    with engine.begin() as connection:
        for ddl in (
            "ALTER TABLE work_items ADD COLUMN u_satisfaction VARCHAR(10)",
            "ALTER TABLE work_items ADD COLUMN aht_s VARCHAR(10)",
            "ALTER TABLE work_items ADD COLUMN contact_count INTEGER",
        ):
            connection.execute(text(ddl))
        for work_item_id, (csat, handle, contacts) in extra.items():
            connection.execute(
                text(
                    "UPDATE work_items SET u_satisfaction = :c, aht_s = :h, contact_count = :n "
                    "WHERE work_item_id = :i"
                ),
                {"c": csat, "h": handle, "n": contacts, "i": work_item_id},
            )
    engine.dispose()


def _kpis(**more: dict[str, Any]) -> dict[str, Any]:
    return {
        "csat_top2": {
            "title": "Satisfied customers (4 or 5 of 5)",
            "kind": "rate",
            "trial": {"column": "csat", "not_null": True},
            "success": {"column": "csat", "at_least": 4},
            "floor": 0.4,
            "target": 0.9,
        },
        "first_contact_resolution": {
            "kind": "rate",
            "trial": {"column": "contacts", "not_null": True},
            "success": {"column": "contacts", "equals": 1},
            "floor": 0.5,
            "target": 1.0,
        },
        "handle_minutes": {
            "kind": "mean",
            "unit": "minutes",
            "value": {"column": "handle_seconds", "scale": 1 / 60},
            "floor": 12.0,
            "target": 2.0,
        },
        **more,
    }


def _config(kpis: dict[str, Any] | None = None, **sections: Any) -> Any:
    return make_config(
        source={"work_items": {"table": "work_items", "extra": EXTRA_COLUMNS}},
        kpis=_kpis() if kpis is None else kpis,
        **sections,
    )


def _row(table: pl.DataFrame, process: str, period: str = "2026-07") -> dict[str, Any]:
    rows = table.filter((pl.col("process") == process) & (pl.col("period") == period))
    assert rows.height == 1
    return rows.row(0, named=True)


def _scored(url: str, config: Any) -> Any:
    return score(extracted_from(url, PERIODS, config), PERIODS, config)


def test_rates_and_means_against_hand_computed_values(sqlite_url):
    _load(sqlite_url)
    more = {
        # Counted on the due date: w1 (due 07-02, one contact) and w5 (due 07-10, open, three).
        "due_single_contact": {
            "kind": "rate", "counted_when": "due",
            "trial": {"column": "contacts", "not_null": True},
            "success": {"column": "contacts", "in": [1, 2]}, "floor": 0.2, "target": 0.8,
        },
        # Counted when received: every July item of support (w1-w5): 1+2+1+1+3 contacts / 5.
        "contacts_per_item": {
            "kind": "mean", "counted_when": "received", "value": {"column": "contacts"},
            "floor": 3.0, "target": 1.0,
        },
        # all = [..]: satisfied and reworked; at_most; is_true; a canonical text column.
        "happy_rework": {
            "kind": "rate",
            "trial": {"column": "process", "equals": "support"},
            "success": {"all": [{"column": "csat", "at_least": 4}, {"column": "reworked", "is_true": True}]},
            "floor": 0.0, "target": 0.5,
        },
        "unhappy": {
            "kind": "rate", "trial": {"column": "csat", "not_null": True},
            "success": {"column": "csat", "at_most": 3}, "floor": 0.5, "target": 0.0,
        },
    }  # fmt: skip
    table = _scored(sqlite_url, _config(_kpis(**more))).table
    support, billing, vendor_all = (_row(table, p) for p in ("support", "billing", "ALL"))
    # csat: w1 5, w2 3 are trials (w3 null, w4 unreadable): 1 of 2.
    assert (support["csat_top2_numerator"], support["csat_top2_denominator"]) == (1, 2)
    assert support["csat_top2"] == 0.5
    assert support["csat_top2_score"] == 20.0  # (0.5 - 0.4) / (0.9 - 0.4)
    assert (billing["csat_top2"], billing["csat_top2_score"]) == (1.0, 100.0)  # " 4 " reads
    # ALL: the ratio of the summed numerators and denominators, not a mean of the rates.
    assert (vendor_all["csat_top2_numerator"], vendor_all["csat_top2_denominator"]) == (2, 3)
    assert vendor_all["csat_top2"] == round(2 / 3, 6)
    # first contact: w1, w3, w4 of w1-w4 completed in July with one contact.
    assert support["first_contact_resolution"] == 0.75
    assert support["first_contact_resolution_score"] == 50.0
    # handle time: (300 + 600 + 120) s / 3 values (w4 unreadable) = 5.666.. minutes.
    assert support["handle_minutes_numerator"] == 17.0
    assert support["handle_minutes_denominator"] == 3
    assert support["handle_minutes"] == round(17 / 3, 6)
    assert support["handle_minutes_score"] == round((12 - 17 / 3) / 10 * 100, 2)
    assert (support["due_single_contact_numerator"], support["due_single_contact_denominator"]) == (
        1,
        2,
    )
    assert support["contacts_per_item"] == 1.6
    assert (support["happy_rework_numerator"], support["happy_rework_denominator"]) == (1, 4)
    assert (support["unhappy_numerator"], support["unhappy_denominator"]) == (1, 2)
    assert support["unhappy_score"] == 0.0  # 0.5 unhappy: at the floor (lower is better)
    # The built-in KPIs do not move because an extra column is dirty.
    assert support["work_items_completed"] == 4


def test_the_columns_come_after_the_others_in_config_order(sqlite_url):
    _load(sqlite_url)
    table = _scored(sqlite_url, _config()).table
    assert table.columns[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    declared = [
        "csat_top2", "csat_top2_numerator", "csat_top2_denominator", "csat_top2_score",
        "previous_csat_top2", "csat_top2_change_z", "csat_top2_change_significant",
        "first_contact_resolution", "first_contact_resolution_numerator",
        "first_contact_resolution_denominator", "first_contact_resolution_score",
        "previous_first_contact_resolution", "first_contact_resolution_change_z",
        "first_contact_resolution_change_significant",
        "handle_minutes", "handle_minutes_numerator", "handle_minutes_denominator",
        "handle_minutes_score",
    ]  # fmt: skip
    assert table.columns[-len(declared) :] == declared
    support = _row(table, "support")
    # June: w0 satisfied, 1 of 1; July 1 of 2. Tested like the built-in rates.
    assert support["previous_csat_top2"] == 1.0
    assert support["csat_top2_change_z"] is not None
    assert support["csat_top2_change_significant"] is False


def test_a_rate_without_trials_and_a_mean_without_values_are_null(sqlite_url):
    _load(sqlite_url)
    kpis = {
        "perfect": {
            "kind": "rate", "trial": {"column": "csat", "at_least": 6},
            "success": {"column": "csat", "equals": 6}, "floor": 0.5, "target": 1.0,
        },
        "slow_handle": {
            "kind": "mean", "value": {"column": "handle_seconds"}, "floor": 10.0, "target": 1.0,
        },
    }  # fmt: skip
    table = _scored(sqlite_url, _config(kpis)).table
    support = _row(table, "support")
    assert (support["perfect_numerator"], support["perfect_denominator"]) == (0, 0)
    assert support["perfect"] is None and support["perfect_score"] is None
    # w5 is open: nothing of billing's June... billing had no item in June at all.
    june_billing = table.filter((pl.col("process") == "billing") & (pl.col("period") == "2026-06"))
    assert june_billing.is_empty()
    june = _row(table, "ALL", "2026-06")
    assert june["perfect"] is None
    # Only w0 was completed in June; its handle time was 60 s: a mean of one value.
    assert june["slow_handle"] == 60.0
    no_values = _scored(
        sqlite_url,
        _config({"slow_handle": {**kpis["slow_handle"], "counted_when": "due"}}),
    ).table
    # Due in June: nothing; the mean has no value and is null, not 0.
    assert _row(no_values, "ALL", "2026-06")["slow_handle"] is None


def test_a_dirty_extra_value_is_counted_and_the_row_kept(sqlite_url):
    _load(sqlite_url)
    data = extracted_from(sqlite_url, PERIODS, _config())
    quality = data.data_quality.filter(pl.col("rule").str.starts_with("unreadable_"))
    assert sorted(quality.select("rule", "vendor_id", "rows_rejected").rows()) == [
        ("unreadable_csat", "A", 1),
        ("unreadable_handle_seconds", "A", 1),
    ]
    counts = data.counts["work_items"]
    assert (counts.read, counts.accepted, counts.rejected) == (7, 7, 0)


def test_a_declared_kpi_is_weighted_as_a_dimension_of_its_own(sqlite_url):
    _load(sqlite_url)
    weights = {"accuracy": 0, "speed": 0, "cost": 0, "responsiveness": 0, "csat_top2": 1,
               "first_contact_resolution": 1}  # fmt: skip
    table = _scored(sqlite_url, _config(scoring={"weights": weights})).table
    support = _row(table, "support")
    assert support["composite_score"] == 35.0  # (20 + 50) / 2; handle_minutes has no weight
    billing_june = _row(table, "ALL", "2026-06")
    # June: only csat measured (1 of 1: 100); fcr 1 of 1 too: both 100.
    assert billing_june["composite_score"] == 100.0


def test_a_declared_kpi_as_a_service_level_with_its_credit(sqlite_url):
    _load(sqlite_url)
    level = {"name": "Satisfaction", "process": "ALL", "kpi": "csat_top2", "minimum": 0.8,
             "allocation_pct": 50}  # fmt: skip
    config = _config(contracts={"A": {"at_risk_pct": 0.1, "service_levels": [level]}})
    check_config(config)
    credits = _scored(sqlite_url, config).credits
    assert credits is not None
    rows = {r["month"]: r for r in credits.levels.to_dicts()}
    # June 1 of 1 met; July 2 of 3 missed: 50 % of 10 % of July's 1,000 fees (2,000 over 61 days).
    assert rows["2026-06"]["met"] is True and rows["2026-06"]["credit"] == 0
    july = rows["2026-07"]
    assert july["met"] is False
    assert july["actual"] == pytest.approx(2 / 3)
    assert july["credit"] == pytest.approx(0.5 * 0.1 * 2000 * 31 / 61, abs=0.01)
    # A lower-is-better declared KPI takes a maximum; a minimum is refused naming the key.
    wrong = {**level, "kpi": "handle_minutes", "minimum": 5}
    with pytest.raises(
        ConfigError, match=r"service_levels\.0\.minimum: handle_minutes is better when lower"
    ):
        check_config(_config(contracts={"A": {"at_risk_pct": 0.1, "service_levels": [wrong]}}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"success": {"column": "csatt", "at_least": 4}},
            "kpis.csat_top2.success: 'csatt' is not a column of work_items",
        ),
        (
            {"success": {"column": "csat", "at_least": 4, "at_most": 5}},
            "kpis.csat_top2.success: give exactly one of at_least",
        ),
        ({"target": 0.4}, "kpis.csat_top2: target: floor and target must differ"),
        ({"target": 90}, "kpis.csat_top2: target: a rate is a fraction 0-1"),
        ({"value": {"column": "csat"}}, 'kpis.csat_top2: value: goes with kind = "mean"'),
        ({"counted_when": "opened"}, "kpis.csat_top2: counted_when: work_items rows are counted"),
        (
            {"success": {"column": "csat", "equals": "4"}},
            "kpis.csat_top2.success.equals: '4' cannot be a value of csat (integer)",
        ),
        (
            {"trial": {"all": [{"column": "process", "at_least": 1}]}},
            "kpis.csat_top2.trial.all.0.at_least: process is text, not a number",
        ),
    ],
)
def test_config_errors_name_the_key(change, message):
    kpis = _kpis()
    kpis["csat_top2"] = {**kpis["csat_top2"], **change}
    with pytest.raises(ConfigError) as error:
        _config(kpis)
    assert message in str(error.value)


def test_a_weight_for_an_unknown_kpi_names_the_key():
    with pytest.raises(
        ConfigError, match=r"scoring\.weights\.csat_top: no dimension and no declared KPI"
    ):
        _config(scoring={"weights": {"csat_top": 10}})
    with pytest.raises(ConfigError, match=r"kpis\.accuracy: the name is taken"):
        check_config(_config({"accuracy": _kpis()["csat_top2"]}))


def test_sql_smuggled_through_the_config_is_refused_or_inert(sqlite_url):
    _load(sqlite_url)
    smuggled_column = {"column": "csat) OR 1=1; DROP TABLE vendors; --", "not_null": True}
    with pytest.raises(ConfigError, match=r"kpis\.csat_top2\.trial: .* is not a column"):
        _config(_kpis(csat_top2={**_kpis()["csat_top2"], "trial": smuggled_column}))
    with pytest.raises(ConfigError, match=r"kpis\.x\).*a KPI name is lower-case"):
        _config({"x) FROM vendors; --": _kpis()["csat_top2"]})
    # A source column that does not exist, however it is spelled, is a source problem.
    sneaky = {
        **EXTRA_COLUMNS,
        "csat": {"column": 'u_satisfaction"; DROP TABLE vendors; --', "type": "integer"},
    }
    config = make_config(
        source={"work_items": {"table": "work_items", "extra": sneaky}}, kpis=_kpis()
    )
    with pytest.raises(
        SourceError, match=r"has no column .* \(for source\.work_items\.extra\.csat"
    ):
        extracted_from(sqlite_url, PERIODS, config)
    # Values are bound parameters: quotes in them are compared as text, never run.
    inert = _kpis(csat_top2={**_kpis()["csat_top2"],
                              "trial": {"column": "process", "equals": "support' OR '1'='1"}})  # fmt: skip
    table = _scored(sqlite_url, _config(inert)).table
    assert _row(table, "support")["csat_top2_denominator"] == 0
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM vendors")).scalar() == 1
    engine.dispose()


def test_the_catalogue_knows_every_kpi():
    config = _config()
    known = catalogue(config)
    assert known.names[: len(BUILT_IN_CATALOGUE.kpis)] == BUILT_IN_CATALOGUE.names
    assert [k.name for k in known.declared] == list(_kpis())
    assert [k.name for k in known.rates][-2:] == ["csat_top2", "first_contact_resolution"]
    assert known["handle_minutes"].higher_is_better is False
    assert known["handle_minutes"].unit == "minutes"
    assert list(known.dimensions) == [
        "accuracy", "speed", "responsiveness", "cost", "csat_top2",
        "first_contact_resolution", "handle_minutes",
    ]  # fmt: skip


def test_the_engines_give_byte_identical_scores(
    sqlite_url, postgresql_url, mariadb_url, duckdb_url
):
    weights = {"csat_top2": 15, "first_contact_resolution": 10, "handle_minutes": 5}
    config = _config(scoring={"weights": weights})
    outputs = {}
    for url in (sqlite_url, postgresql_url, mariadb_url, duckdb_url):
        _load(url)
        outputs[url.split(":")[0]] = csv_bytes(_scored(url, config).table)
    first = next(iter(outputs.values()))
    assert b"csat_top2_change_significant" in first.splitlines()[0]
    assert {engine: body == first for engine, body in outputs.items()} == dict.fromkeys(
        outputs, True
    )


CALLS = [
    # call_id, agency, queue, offered_at, due_at, closed_at, csat, contacts, talk_s, wrap_s, answer_s, abandoned
    ("c1", "AGENCY-1", "inbound", "2026-07-01 09:00:00", "", "2026-07-01 09:10:00", "5", "1", "300", "20", "10", "N"),
    ("c2", "AGENCY-1", "inbound", "2026-07-01 10:00:00", "", "2026-07-01 10:20:00", "2", "2", "900", "20", "30", "N"),
    ("c3", "AGENCY-1", "inbound", "2026-07-02 11:00:00", "", "", "", "", "", "", "", "Y"),
    ("c4", "AGENCY-1", "inbound", "2026-07-03 12:00:00", "", "2026-07-03 12:10:00", "n/a", "1", "600", "20", "15", "N"),
]  # fmt: skip


def test_the_contact_centre_example_scores_its_five_kpis(sqlite_url):
    from pathlib import Path

    from scorecard.config import read_config

    engine = create_engine(sqlite_url)
    columns = ["call_id", "agency", "queue", "offered_at", "due_at", "closed_at", "csat", "contacts", "talk_s", "wrap_s", "answer_s", "abandoned"]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE calls ({', '.join(c + ' TEXT' for c in columns)})"))
        for call in CALLS:
            connection.execute(
                text(f"INSERT INTO calls VALUES ({', '.join(':' + c for c in columns)})"),
                dict(zip(columns, call, strict=True)),
            )
    engine.dispose()
    config = read_config(Path(__file__).parent.parent / "examples/contact-centre/scorecard.toml")
    check_config(config)
    row = _row(_scored(sqlite_url, config).table, "ALL")
    assert row["csat_top2"] == 0.5  # c1 5, c2 2; c4 "n/a" is null
    assert row["first_contact_resolution"] == round(2 / 3, 6)  # completed: c1, c2, c4
    assert row["handle_minutes"] == 10.0  # (300 + 900 + 600) s / 3
    assert row["answered_within_20s"] == round(2 / 3, 6)  # offered, not abandoned: c1, c4 of 3
    assert (row["abandonment_numerator"], row["abandonment_denominator"]) == (1, 4)


def test_a_declared_rate_gets_a_control_chart_and_lower_is_better_reads_right():
    from scoring.control import charted_rates, measure_titles, monthly_rates, p_chart, vendor_charts

    kpis = catalogue(_config(_kpis(unhappy={
        "kind": "rate", "trial": {"column": "csat", "not_null": True},
        "success": {"column": "csat", "at_most": 3}, "floor": 0.5, "target": 0.0,
    })))  # fmt: skip
    assert list(charted_rates(kpis)) == ["csat_top2", "first_contact_resolution", "unhappy"]
    assert measure_titles(kpis)["csat_top2"] == "Satisfied customers (4 or 5 of 5)"
    months = [dt.date(2026, m, 1) for m in range(1, 7)]
    item_days = pl.DataFrame(
        {
            "vendor_id": ["A"] * 6,
            "completed_day": months,
            "due_period": [None] * 6,
            "items": [100] * 6,
            "items_on_time": [0] * 6,
            "qa_checked_units": [0] * 6,
            "defects": [0] * 6,
            **{f"kpi_num_{n}": [50, 52, 49, 51, 50, 95] for n in charted_rates(kpis)},
            **{f"kpi_den_{n}": [100] * 6 for n in charted_rates(kpis)},
        }
    )
    monthly = monthly_rates(item_days, kpis)
    charts = {c.measure: c for c in vendor_charts(monthly, kpis)}
    assert charts["csat_top2"].title == "Satisfied customers (4 or 5 of 5)"
    assert charts["csat_top2"].rates[-1] == 0.95
    # The same jump is better for satisfaction and worse for unhappiness.
    assert [s.better for s in charts["csat_top2"].signals if s.kind == "outside"] == [True]
    assert [s.better for s in charts["unhappy"].signals if s.kind == "outside"] == [False]
    assert p_chart("x", months[:2], [1, 1], [2, 2]) is None  # too few months, as before


def test_a_declared_rate_of_requests_counts_them_when_opened(sqlite_url):
    from tests.builders import request

    rows = {
        **ROWS,
        "requests": [
            request("r1", "A", "urgent", "2026-07-01 09:00", "2026-07-01 09:30"),
            request("r2", "A", "high", "2026-07-02 09:00", None),
            request("r3", "A", "low", "2026-07-03 09:00", "2026-07-03 10:00"),
            request("r4", "A", "urgent", "2026-06-30 23:00", "2026-07-01 01:00"),  # June
        ],
    }
    load(sqlite_url, rows)
    kpis = {
        "urgent_answered": {
            "table": "requests", "counted_when": "opened", "kind": "rate",
            "trial": {"column": "priority", "in": ["urgent", "high"]},
            "success": {"column": "first_response_at", "not_null": True},
            "floor": 0.5, "target": 1.0,
        }
    }  # fmt: skip
    config = make_config(kpis=kpis)
    table = _scored(sqlite_url, config).table
    july, june = _row(table, "support"), _row(table, "support", "2026-06")
    assert (july["urgent_answered_numerator"], july["urgent_answered_denominator"]) == (1, 2)
    assert (june["urgent_answered_numerator"], june["urgent_answered_denominator"]) == (1, 1)
    # Requests declared absent: the KPI is not measured, null, never 0.
    absent = make_config(kpis=kpis, source={"requests": {"absent": True}})
    row = _row(_scored(sqlite_url, absent).table, "support")
    assert row["urgent_answered"] is None and row["urgent_answered_denominator"] is None


def test_a_declared_kpi_the_extract_did_not_sum_is_not_measured(sqlite_url):
    """Scoring data extracted without the declared KPIs (the Python API, called without them):
    null, not a crash and never 0."""
    _load(sqlite_url)
    data = extracted_from(sqlite_url, PERIODS, make_config())
    table = score(data, PERIODS, _config()).table
    support = _row(table, "support")
    assert support["csat_top2"] is None and support["csat_top2_score"] is None
    assert support["work_items_completed"] == 4


def test_a_declared_rates_missed_level_lists_its_failed_trials_as_not_success(
    any_database_url, tmp_path
):
    """Contract section 12: the rows of a declared rate's missed month are exactly its trials
    that did not succeed, counted in the month its counted_when says (completed or due)."""
    import scorecard

    url = any_database_url
    _load(url)
    due_contact = {
        "kind": "rate", "counted_when": "due",
        "trial": {"column": "contacts", "not_null": True},
        "success": {"column": "contacts", "equals": 1}, "floor": 0.2, "target": 0.8,
    }  # fmt: skip
    levels = [
        {"name": "Satisfaction", "process": "ALL", "kpi": "csat_top2", "minimum": 0.8,
         "allocation_pct": 40},
        {"name": "One contact", "process": "ALL", "kpi": "first_contact_resolution",
         "minimum": 0.9, "allocation_pct": 30},
        {"name": "Due in one contact", "process": "ALL", "kpi": "due_contact", "minimum": 0.9,
         "allocation_pct": 30},
    ]  # fmt: skip
    config = _config(
        _kpis(due_contact=due_contact),
        contracts={"A": {"at_risk_pct": 0.1, "service_levels": levels}},
        run={"period": "month", "history_periods": 1, "output_dir": str(tmp_path / "out"),
             "formats": ["csv"]},
    )  # fmt: skip
    result = scorecard.run(config, database_url=url, as_of=dt.date(2026, 7, 31))
    assert result.exit_code == 0, result.problems
    folder = tmp_path / "out" / "2026-07-31"
    evidence = pl.read_csv(folder / "evidence.csv", infer_schema=False)
    july = evidence.filter(pl.col("month") == "2026-07")
    listed = {
        level: sorted(rows.get_column("item_id").to_list())
        for (level,), rows in july.group_by("service_level")
    }
    # csat: trials w1 (5), w2 (3), w6 (4): w2 failed. Contacts: w2 (2 contacts) failed of five.
    # Due in July (w1 one contact, w5 three, still open): w5 failed.
    assert listed == {"Satisfaction": ["w2"], "One contact": ["w2"], "Due in one contact": ["w5"]}
    assert set(july.get_column("reason")) == {"not_success"}
    assert set(july.get_column("table")) == {"work_items"}
    # Reconciled with the month's own numerator and denominator in service_credits.csv.
    scores = pl.read_csv(folder / "scores.csv", infer_schema=False).filter(
        (pl.col("period") == "2026-07") & (pl.col("process") == "ALL")
    )
    row = scores.row(0, named=True)
    for level, name in (("Satisfaction", "csat_top2"), ("One contact", "first_contact_resolution"),
                        ("Due in one contact", "due_contact")):  # fmt: skip
        failed = int(row[f"{name}_denominator"]) - int(row[f"{name}_numerator"])
        assert len(listed[level]) == failed, level
