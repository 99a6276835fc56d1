"""Every rule of contract section 1: bad rows rejected, counted, excluded (section 7)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from scoring.periods import periods_for
from scoring.table import score_table
from tests.builders import (
    charge,
    extracted,
    extracted_from,
    item,
    load,
    make_config,
    request,
    vendor,
)

GOOD_ITEM = dict(received="2026-07-01 00:00", due="2026-07-02 00:00", completed="2026-07-01 06:00")


def _item(work_item_id: str, vendor_id: str = "A", **changes) -> dict:
    row = item(work_item_id, vendor_id, **GOOD_ITEM, units=2, qa=2)
    return row | changes


def _request(request_id: str, vendor_id: str = "A", **changes) -> dict:
    return request(request_id, vendor_id, "high", "2026-07-01 00:00", "2026-07-01 01:00") | changes


def _charge(charge_id: str, vendor_id: str = "A", **changes) -> dict:
    return charge(charge_id, vendor_id, "2026-07-01", "2026-07-31", 100.0) | changes


T0 = dt.datetime(2026, 7, 1)

# (table, rule, bad row) for every rule; each row breaks exactly that rule.
CASES = [
    ("vendors", "missing_id", vendor(None)),
    ("vendors", "duplicate_id", vendor("DUP")),
    ("vendors", "missing_name", vendor("V1", name="  ")),
    ("vendors", "bad_sourcing", vendor("V2", sourcing="outsourced")),
    ("vendors", "bad_country", vendor("V3", country="Philippines")),
    ("vendors", "bad_currency", vendor("V4", currency="euro")),
    ("vendors", "contract_end_before_start", vendor("V5", contract_start=dt.date(2026, 1, 1), contract_end=dt.date(2025, 1, 1))),
    ("work_items", "missing_id", _item(None)),
    ("work_items", "duplicate_id", _item("WDUP")),
    ("work_items", "unknown_vendor", _item("W1", "NOPE")),
    ("work_items", "vendor_rejected", _item("W2", "V2")),
    ("work_items", "missing_process", _item("W3", process=None)),
    ("work_items", "missing_received_at", _item("W4", received_at=None)),
    ("work_items", "due_before_received", _item("W5", due_at=T0 - dt.timedelta(hours=1))),
    ("work_items", "completed_before_received", _item("W6", completed_at=T0 - dt.timedelta(hours=1))),
    ("work_items", "bad_units", _item("W7", units=0, qa_checked_units=0)),
    ("work_items", "bad_qa_checked_units", _item("W8", qa_checked_units=3)),
    ("work_items", "bad_defects", _item("W9", defects=3)),
    ("work_items", "missing_reworked", _item("W10", reworked=None)),
    ("requests", "missing_id", _request(None)),
    ("requests", "duplicate_id", _request("RDUP")),
    ("requests", "unknown_vendor", _request("R1", "NOPE")),
    ("requests", "missing_process", _request("R2", process="")),
    ("requests", "bad_priority", _request("R3", priority="P1")),
    ("requests", "missing_opened_at", _request("R4", opened_at=None)),
    ("requests", "first_response_before_opened", _request("R5", first_response_at=T0 - dt.timedelta(hours=1))),
    ("requests", "resolved_before_opened", _request("R6", resolved_at=T0 - dt.timedelta(hours=1))),
    ("charges", "missing_id", _charge(None)),
    ("charges", "duplicate_id", _charge("CDUP")),
    ("charges", "unknown_vendor", _charge("C1", "NOPE")),
    ("charges", "missing_process", _charge("C2", process=None)),
    ("charges", "missing_service_dates", _charge("C3", service_end=None)),
    ("charges", "service_end_before_start", _charge("C4", service_end=dt.date(2026, 6, 1))),
    ("charges", "bad_kind", _charge("C5", kind="discount")),
    ("charges", "missing_amount", _charge("C6", amount=None)),
    ("charges", "negative_amount_not_credit", _charge("C7", amount=-5.0)),
    ("charges", "unknown_currency", _charge("C8", currency="CHF")),
    ("charges", "amount_out_of_range", _charge("C9", amount=5e13)),
]  # fmt: skip

GOOD = {
    "vendors": [vendor("A")],
    "work_items": [_item("OK1")],
    "requests": [_request("OK1")],
    "charges": [_charge("OK1"), _charge("OK2", amount=-10.0, kind="service_credit")],
}


def _dataset() -> dict[str, list[dict]]:
    rows = {name: list(r) for name, r in GOOD.items()}
    for table, rule, bad in CASES:
        rows[table].append(bad)
        if rule == "duplicate_id":
            rows[table].append(dict(bad))  # every copy of a duplicated ID is rejected
    return rows


PERIODS = periods_for(dt.date(2026, 9, 30), "quarter", 0)


@pytest.fixture(scope="module")
def validated_from_sqlite(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'bad.db'}"
    # No keys, as a loose export: duplicated IDs can exist and are checked in the query.
    load(url, _dataset(), primary_keys=False)
    return extracted_from(url, PERIODS)


@pytest.mark.parametrize(("table", "rule", "bad"), CASES, ids=[f"{t}-{r}" for t, r, _ in CASES])
def test_each_rule_rejects_its_row(validated_from_sqlite, table, rule, bad):
    quality = validated_from_sqlite.data_quality
    found = quality.filter((pl.col("table") == table) & (pl.col("rule") == rule))
    expected = 2 if rule == "duplicate_id" else 1
    assert found.get_column("rows_rejected").sum() == expected, quality
    id_column = {"vendors": "vendor_id", "work_items": "work_item_id", "requests": "request_id",
                 "charges": "charge_id"}[table]  # fmt: skip
    example = bad[id_column] if bad[id_column] is not None else "(null)"
    assert example in found.get_column("example_ids").to_list()[0].split(" ")


def test_good_rows_are_all_accepted(validated_from_sqlite):
    data = validated_from_sqlite
    assert data.vendors.get_column("vendor_id").to_list() == ["A"]
    assert data.work_item_days.select("vendor_id", "items", "units").rows() == [("A", 1, 2)]
    assert data.request_days.select("vendor_id", "requests").rows() == [("A", 1)]
    assert sorted(data.charges.get_column("charge_id").to_list()) == ["OK1", "OK2"]
    assert (data.counts["work_items"].accepted, data.counts["requests"].accepted) == (1, 1)


def test_rows_read_equal_accepted_plus_rejected_and_the_report_adds_up(validated_from_sqlite):
    data = validated_from_sqlite
    expected_read = {name: len(rows) for name, rows in _dataset().items()}
    for name, counts in data.counts.items():
        assert counts.read == expected_read[name]
        assert counts.read == counts.accepted + counts.rejected
        reported = (
            data.data_quality.filter(pl.col("table") == name).get_column("rows_rejected").sum()
        )
        assert reported == counts.rejected


def test_data_quality_columns_match_the_contract(validated_from_sqlite):
    assert validated_from_sqlite.data_quality.columns == [
        "table", "rule", "vendor_id", "rows_rejected", "example_ids", "example_values",
    ]  # fmt: skip


def test_rejected_rows_are_left_out_of_every_kpi(validated_from_sqlite):
    as_of = dt.date(2026, 9, 30)
    config = make_config()
    table = score_table(validated_from_sqlite, periods_for(as_of, "quarter", 0), config)
    a = table.filter((pl.col("vendor_id") == "A") & (pl.col("process") == "support")).row(
        0, named=True
    )
    assert a["work_items_completed"] == 1 and a["units_completed"] == 2  # only OK1
    assert a["requests_opened"] == 1
    assert a["spend"] == pytest.approx(100.0 - 10.0)  # OK1 and the credit OK2, July only
    assert set(table.get_column("vendor_id").to_list()) == {"A"}


def test_a_row_breaking_several_rules_is_counted_once_under_the_first():
    rows = {"vendors": [vendor("A")], "work_items": [_item("X", "NOPE", units=0, defects=9)]}
    data = extracted(rows, PERIODS)
    assert data.data_quality.select("rule", "rows_rejected").rows() == [("unknown_vendor", 1)]
