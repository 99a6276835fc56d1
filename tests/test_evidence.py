"""Evidence behind every miss (contract section 12) on the demo world.

Every rate's rows reconcile exactly with its numerator and denominator, month by
month; the bound and its "more" row; open-past-due items at the end of the as-of day;
a mean KPI's over-maximum items; the claim file's totals.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scorecard.api import score
from scorecard.config import config_from_mapping
from scoring.credits import claims
from scoring.evidence import needs_evidence
from scoring.periods import months_of
from scoring.table import score_table

AS_OF = dt.date(2026, 9, 30)
CONFIG = Path(__file__).resolve().parents[1] / "scorecard" / "example-config.toml"

# Levels every vendor misses in most months: each KPI, on one process and on ALL.
STRICT_LEVELS = [
    ("on time (process)", "PROCESS", "on_time_rate", "minimum", 0.999),
    ("on time (all)", "ALL", "on_time_rate", "minimum", 0.999),
    ("responses (process)", "PROCESS", "response_within_target_rate", "minimum", 0.999),
    ("responses (all)", "ALL", "response_within_target_rate", "minimum", 0.999),
    ("accuracy (process)", "PROCESS", "accuracy", "minimum", 0.9999),
    ("rework (all)", "ALL", "rework_rate", "maximum", 0.0001),
    ("turnaround (process)", "PROCESS", "mean_turnaround_hours", "maximum", 1.0),
    ("first response (all)", "ALL", "mean_first_response_hours", "maximum", 1.0),
]
VENDOR_PROCESS = {
    "V-IN-BLR": "it_service_desk",
    "V-PH-MNL": "customer_support",
    "V-US-NYC": "legal_review",
    "V-IN-PNQ": "data_entry",
}


def strict_config(max_items: int = 1000) -> Any:
    data = tomllib.loads(CONFIG.read_text())
    data["contracts"] = {
        vendor: {
            "at_risk_pct": 0.1,
            "service_levels": [
                {
                    "name": name,
                    "process": process if process == "ALL" else own,
                    "kpi": kpi,
                    side: threshold,
                    "allocation_pct": 10,
                }
                for name, process, kpi, side, threshold in STRICT_LEVELS
            ],
        }
        for vendor, own in VENDOR_PROCESS.items()
    }
    data["evidence"] = {"max_items": max_items}
    return config_from_mapping(data)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, scorecard_cli) -> str:
    base = tmp_path_factory.mktemp("evidence")
    url = f"sqlite:///{base / 'demo.db'}"
    made = scorecard_cli(
        "demo-data", "--database-url", url, "--scale", "0.1", "--through", "2026-09-30"
    )
    assert made.exit_code == 0, made.output
    return url


def _scored(url: str, config: Any, as_of: dt.date = AS_OF) -> tuple[Any, pl.DataFrame]:
    scores = score(config, database_url=url, as_of=as_of)
    monthly = score_table(scores.data, months_of(scores.periods), config)
    return scores, monthly


def _counted(evidence: pl.DataFrame) -> pl.DataFrame:
    """Items per vendor x level x month, the "more" row's value included."""
    return evidence.group_by("month", "vendor_id", "service_level").agg(
        pl.when(pl.col("reason") == "more").then(pl.col("value")).otherwise(1.0).sum().alias("n"),
        pl.when(pl.col("reason") == "defects").then(pl.col("value")).sum().alias("defects_listed"),
    )


def test_every_rate_reconciles_with_its_numerator_and_denominator(demo):
    config = strict_config()
    scores, monthly = _scored(demo, config)
    credits = scores.scored.credits
    assert credits is not None and credits.evidence is not None
    wanted = credits.levels.filter(needs_evidence())
    assert wanted.height > 50, "the strict levels must miss month after month"
    joined = (
        wanted.join(
            monthly.rename({"period": "month"}), on=["vendor_id", "process", "month"], how="left"
        )
        .join(_counted(credits.evidence), on=["month", "vendor_id", "service_level"], how="left")
        .with_columns(pl.col("n").fill_null(0.0), pl.col("defects_listed").fill_null(0.0))
    )
    expected = {
        "on_time_rate": pl.col("items_due") - pl.col("items_on_time"),
        "response_within_target_rate": pl.col("requests_target_due")
        - pl.col("requests_within_target"),
        "rework_rate": pl.col("reworked_items"),
    }
    checked = set()
    for kpi, failures in expected.items():
        rows = joined.filter(pl.col("kpi") == kpi)
        assert rows.height, kpi
        off = rows.filter(pl.col("n") != failures.cast(pl.Float64))
        assert off.is_empty(), off.select("month", "vendor_id", "service_level", "n").to_dicts()
        checked.add(kpi)
    # Accuracy counts units: its items are those with defects, and their values add up.
    accuracy = joined.filter(pl.col("kpi") == "accuracy")
    assert accuracy.height
    assert (accuracy.get_column("defects_listed") == accuracy.get_column("defects")).all()
    assert checked == set(expected)
    # The counts the reports show are the same.
    counts = credits.evidence_counts
    assert counts is not None
    mine = counts.join(
        _counted(credits.evidence), on=["month", "vendor_id", "service_level"], how="left"
    )
    assert (mine.get_column("items") == mine.get_column("n").fill_null(0).cast(pl.Int64)).all()


def test_at_most_max_items_per_group_smallest_ids_first_then_a_more_row(demo):
    full, _ = _scored(demo, strict_config())
    small, _ = _scored(demo, strict_config(max_items=3))
    everything, bounded = full.scored.credits.evidence, small.scored.credits.evidence
    keys = ["month", "vendor_id", "service_level"]
    for (month, vendor, level), group in bounded.group_by(keys, maintain_order=True):
        whole = everything.filter(
            (pl.col("month") == month) & (pl.col("vendor_id") == vendor)
            & (pl.col("service_level") == level)
        )  # fmt: skip
        listed = group.filter(pl.col("reason") != "more")
        assert listed.get_column("item_id").to_list() == sorted(whole.get_column("item_id"))[:3]
        more = group.filter(pl.col("reason") == "more")
        if whole.height > 3:
            assert more.height == 1 and more.row(0, named=True)["item_id"] is None
            assert more.row(0, named=True)["value"] == whole.height - 3
            assert group.row(-1, named=True)["reason"] == "more"
        else:
            assert more.is_empty()


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_open_past_due_items_are_those_open_at_the_end_of_the_as_of_day(demo, tmp_path):
    as_of = dt.date(2026, 9, 20)  # mid-month: September is a provisional miss
    copy = tmp_path / "demo.db"
    shutil.copy(_sqlite_path(demo), copy)
    with sqlite3.connect(copy) as db:
        # Still open; completed after the end of the as-of day (open then); late; on time.
        db.executemany(
            "INSERT INTO work_items VALUES (?, 'V-IN-BLR', 'it_service_desk', ?, ?, ?, 1, 0, 0, 0)",
            [
                ("ZZ-open", "2026-09-10 08:00:00", "2026-09-11 08:00:00", None),
                ("ZZ-after", "2026-09-10 08:00:00", "2026-09-12 08:00:00", "2026-09-21 00:00:00"),
                ("ZZ-late", "2026-09-10 08:00:00", "2026-09-12 08:00:00", "2026-09-20 23:59:59"),
                ("ZZ-fine", "2026-09-10 08:00:00", "2026-09-12 08:00:00", "2026-09-12 08:00:00"),
            ],
        )
    demo = f"sqlite:///{copy}"
    scores, _ = _scored(demo, strict_config(), as_of)
    evidence = scores.scored.credits.evidence
    mine = evidence.filter(
        (pl.col("month") == "2026-09") & (pl.col("vendor_id") == "V-IN-BLR")
        & (pl.col("service_level") == "on time (process)")
    )  # fmt: skip
    cutoff = "2026-09-21 00:00:00"
    with sqlite3.connect(_sqlite_path(demo)) as db:
        expected = {
            row[0]: row[1]
            for row in db.execute(
                "SELECT work_item_id, CASE WHEN completed_at < ? THEN 'late' ELSE 'open_past_due' END"
                " FROM work_items WHERE vendor_id = 'V-IN-BLR' AND process = 'it_service_desk'"
                " AND due_at >= '2026-09-01' AND due_at < ? AND received_at < ?"
                " AND NOT (completed_at IS NOT NULL AND completed_at < ? AND completed_at <= due_at)",
                (cutoff, cutoff, cutoff, cutoff),
            )
        }
    got = dict(zip(mine.get_column("item_id"), mine.get_column("reason"), strict=True))
    assert got == expected
    assert (got["ZZ-open"], got["ZZ-after"], got["ZZ-late"]) == ("open_past_due",) * 2 + ("late",)
    assert "ZZ-fine" not in got
    level = scores.scored.credits.levels.filter(
        (pl.col("month") == "2026-09") & (pl.col("vendor_id") == "V-IN-BLR")
        & (pl.col("service_level") == "on time (process)")
    ).row(0, named=True)  # fmt: skip
    assert level["provisional"] and level["met"] is False


def test_a_mean_kpis_over_maximum_items_carry_their_own_value(demo):
    scores, _ = _scored(demo, strict_config())
    evidence = scores.scored.credits.evidence
    mine = evidence.filter(
        (pl.col("vendor_id") == "V-US-NYC") & (pl.col("service_level") == "turnaround (process)")
    )
    assert mine.height and set(mine.get_column("reason")) == {"over_maximum"}
    month = mine.get_column("month")[0]
    start = dt.date.fromisoformat(f"{month}-01")
    end = (start + dt.timedelta(days=32)).replace(day=1)
    with sqlite3.connect(_sqlite_path(demo)) as db:
        rows = db.execute(
            "SELECT work_item_id, (julianday(completed_at) - julianday(received_at)) * 24"
            " FROM work_items WHERE vendor_id = 'V-US-NYC' AND process = 'legal_review'"
            " AND completed_at >= ? AND completed_at < ?"
            " AND (julianday(completed_at) - julianday(received_at)) * 24 > 1.0",
            (start.isoformat(), end.isoformat()),
        ).fetchall()
    listed = mine.filter(pl.col("month") == month)
    assert sorted(listed.get_column("item_id")) == sorted(r[0] for r in rows)
    hours = dict(rows)
    for item, value in zip(listed.get_column("item_id"), listed.get_column("value"), strict=True):
        assert value == pytest.approx(hours[item], abs=0.006) and value > 1.0


def test_the_claim_file_holds_every_month_over_with_money_unclaimed(demo):
    scores, _ = _scored(demo, default_config())
    credits = scores.scored.credits
    claim = claims(credits, "EUR")
    over = credits.months.filter(~pl.col("provisional"))
    assert claim.height == over.filter(pl.col("unclaimed") > 0).height > 0
    assert round(claim.get_column("unclaimed").sum(), 2) == round(
        over.get_column("unclaimed").sum(), 2
    )
    assert claim.columns == ["vendor_id", "vendor_name", "month", "levels_missed", "credit_due",
                             "credited", "unclaimed", "currency"]  # fmt: skip


def default_config() -> Any:
    return config_from_mapping(tomllib.loads(CONFIG.read_text()))


def test_with_every_level_met_the_evidence_is_empty_not_missing(demo):
    data = tomllib.loads(CONFIG.read_text())
    data["contracts"] = {
        "V-IN-BLR": {
            "at_risk_pct": 0.1,
            "service_levels": [{"name": "Anything on time", "process": "ALL",
                                "kpi": "on_time_rate", "minimum": 0.0, "allocation_pct": 10}],
        }
    }  # fmt: skip
    scores, _ = _scored(demo, config_from_mapping(data))
    credits = scores.scored.credits
    assert credits is not None and credits.evidence is not None
    assert credits.evidence.is_empty()
    assert credits.evidence.columns == ["month", "vendor_id", "service_level", "process", "kpi",
                                        "table", "item_id", "reason", "value"]  # fmt: skip
    from output.tables import run_tables

    files = run_tables(scores.scored.table, scores.data.data_quality, ("csv",), credits, "EUR")
    assert files["evidence.csv"].decode().splitlines() == [",".join(credits.evidence.columns)]
    assert files["credit_claims.csv"].decode().splitlines()[1:] == []
