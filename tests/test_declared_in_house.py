"""Declared KPIs against the in-house team (contract sections 8 and 10): the baseline is
measured the same way as the built-in KPIs', and a KPI the in-house team has no data for is
null and said to be not measured in-house, never 0. Declared rates of requests get their
control chart, by the month opened."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

from scoring.catalogue import catalogue
from scoring.periods import periods_for
from scoring.scored import score
from tests.builders import charge, extracted_from, item, load, make_config, request, vendor
from tests.test_declared_kpis import EXTRA, ROWS, _config, _kpis
from tests.test_declared_kpis import _load as _load_rows

AS_OF = dt.date(2026, 7, 31)
PERIODS = periods_for(AS_OF, "month", 1)

# The in-house team on the vendor's process "support", all completed in July. Satisfaction
# and handle time as text, as in test_declared_kpis; contacts are never recorded in-house.
IN_HOUSE_EXTRA = {
    "h1": ("5", "120", None),
    "h2": ("2", "240", None),
    "h3": ("4", None, None),
    "h4": (None, "600", None),
}
IN_HOUSE_ROWS = {
    "vendors": [*ROWS["vendors"], vendor("H", "in_house", name="Care Team (in-house)")],
    "work_items": [
        *ROWS["work_items"],
        *[
            item(f"h{n}", "H", "2026-07-01 09:00", "2026-07-03 09:00", "2026-07-02 09:00")
            for n in range(1, 5)
        ],
    ],
    "requests": [],
    "charges": [*ROWS["charges"], charge("c2", "H", "2026-07-01", "2026-07-31", 100.0)],
}
# Hand-computed: csat trials h1 5, h2 2, h3 4 (h4 unsurveyed): 2 satisfied of 3.
# Handle time: (120 + 240 + 600) s / 3 values = 320 s = 5.333.. minutes.
# First contact: no in-house item has contacts: no trials, so not measured (null, not 0).
IN_HOUSE_CSAT = 2 / 3
IN_HOUSE_HANDLE_MINUTES = 16 / 3


def _load(url: str) -> None:
    _load_rows(url, IN_HOUSE_ROWS, {**EXTRA, **IN_HOUSE_EXTRA})


def test_the_in_house_baseline_of_a_declared_rate_and_mean_against_hand_computed_values(
    sqlite_url,
):
    from reports.vendor import in_house_baseline

    _load(sqlite_url)
    config = _config()
    table = score(extracted_from(sqlite_url, PERIODS, config), PERIODS, config).table
    baseline = in_house_baseline(table, "2026-07", ["billing", "support"], catalogue(config))
    assert baseline["csat_top2"] == IN_HOUSE_CSAT
    assert baseline["handle_minutes"] == IN_HOUSE_HANDLE_MINUTES
    assert baseline["first_contact_resolution"] is None  # no trials in-house: not measured
    # The built-in KPIs, as before: nothing checked in-house, four items due, all on time.
    assert (baseline["accuracy"], baseline["on_time_rate"]) == (None, 1.0)
    assert baseline["response_within_target_rate"] is None
    # A process the in-house team does not work on has no baseline at all.
    assert set(in_house_baseline(table, "2026-07", ["billing"], catalogue(config)).values()) == {
        None
    }


def _cells(page: str, first: str) -> list[str]:
    """The text of each cell of the table row whose first cell starts with `first`."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", " ", c)).split()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        texts = [" ".join(c) for c in cells]
        if texts and texts[0].startswith(first):
            return texts
    raise AssertionError(f"no row starting {first!r}")


def _run(url: str, tmp_path: Path) -> Path:
    import scorecard

    config = _config(
        run={"period": "month", "history_periods": 1, "output_dir": str(tmp_path / "out"),
             "formats": ["html"]},
    )  # fmt: skip
    result = scorecard.run(config, database_url=url, as_of=AS_OF)
    assert result.exit_code == 0, result.problems
    return tmp_path / "out" / AS_OF.isoformat()


def test_the_scorecard_and_the_pack_compare_declared_kpis_with_in_house(sqlite_url, tmp_path):
    _load(sqlite_url)
    folder = _run(sqlite_url, tmp_path)
    (scorecard_file,) = (folder / "vendors").glob("acme-contact_*.html")
    page = scorecard_file.read_text()
    # Columns: dimension, KPI with interval, how computed, target, in-house, score, ...
    csat = _cells(page, "Satisfied customers")
    assert csat[4] == "66.7 %"
    assert _cells(page, "Handle minutes")[4] == "5.3 minutes"
    assert _cells(page, "First contact resolution")[4] == "not measured in-house"
    pack = (folder / "portfolio.html").read_text()
    # The process page: the declared KPIs measured on "support", beside the built-in ones.
    support = pack[pack.index('id="processes"') : pack.index('id="declared"')]
    head = _cells(support, "Vendor")
    assert head[5:8] == [
        "Satisfied customers (4 or 5 of 5)", "First contact resolution", "Handle minutes",
    ]  # fmt: skip
    assert _cells(support, "Care Team")[5:8] == ["66.7 %", "not measured in-house", "5.3 minutes"]
    assert _cells(support, "Acme Contact")[5:8] == ["50.0 %", "75.0 %", "5.7 minutes"]
    # The declared KPIs' page: the in-house team marked, or the KPI said not measured in-house.
    declared = pack[pack.index('id="declared"') :]
    declared = declared[: declared.index("</section>")]
    parts = re.split(r"<h3>", declared)[1:]
    by_title = {part.split("<")[0].strip(): part for part in parts}
    assert "(in-house)" in by_title["Satisfied customers (4 or 5 of 5)"]
    assert "Not measured in-house" not in by_title["Satisfied customers (4 or 5 of 5)"]
    assert "Not measured in-house" in by_title["First contact resolution"]
    assert "Care Team" not in by_title["First contact resolution"]


def test_a_declared_rate_of_requests_gets_a_control_chart_by_the_month_opened(sqlite_url):
    from reports.build import control_charts_by_vendor
    from scoring.control import charted_rates

    def at(day: str) -> str:
        return f"{day} 09:00"

    # Urgent and high requests answered: May 2 of 3, June 1 of 2, July 3 of 3 (a low one
    # and an unanswered normal one are no trials).
    answered = {
        "2026-05": [("urgent", True), ("high", True), ("urgent", False), ("low", True)],
        "2026-06": [("urgent", True), ("high", False), ("normal", False)],
        "2026-07": [("urgent", True), ("urgent", True), ("high", True)],
    }
    requests = [
        request(f"r{month}-{n}", "A", priority, at(f"{month}-10"),
                at(f"{month}-11") if ok else None)
        for month, calls in answered.items()
        for n, (priority, ok) in enumerate(calls)
    ]  # fmt: skip
    load(sqlite_url, {**ROWS, "requests": requests})
    kpis = {
        "urgent_answered": {
            "title": "Urgent requests answered",
            "table": "requests", "kind": "rate",
            "trial": {"column": "priority", "in": ["urgent", "high"]},
            "success": {"column": "first_response_at", "not_null": True},
            "floor": 0.5, "target": 1.0,
        },
        # Counted when due: summed per reported period, not per day: no month to chart.
        "due_done": {
            "kind": "rate", "counted_when": "due",
            "trial": {"column": "process", "not_null": True},
            "success": {"column": "completed_at", "not_null": True},
            "floor": 0.5, "target": 1.0,
        },
    }  # fmt: skip
    config = make_config(kpis=kpis)
    assert list(charted_rates(catalogue(config))) == ["urgent_answered"]
    periods = periods_for(AS_OF, "month", 3)
    charts = control_charts_by_vendor(
        extracted_from(sqlite_url, periods, config), catalogue(config)
    )
    chart = next(c for c in charts["A"] if c.measure == "urgent_answered")
    assert chart.title == "Urgent requests answered"
    assert chart.months == ["2026-05", "2026-06", "2026-07"]
    assert chart.trials == [3, 2, 3]
    assert chart.rates == [2 / 3, 1 / 2, 1.0]
    assert chart.centre == 6 / 8


def test_a_declared_kpi_is_named_and_its_missed_items_described_by_the_catalogue():
    """No list to edit: a declared KPI's heading, column head and why-line name are its title,
    and the items behind a missed level are described from its success condition."""
    from reports.credits import items_text

    kpis = catalogue(_config(_kpis(both={
        "kind": "rate", "trial": {"column": "csat", "not_null": True},
        "success": {"all": [{"column": "csat", "in": [4, 5]}, {"column": "reworked", "is_true": True}]},
        "floor": 0.2, "target": 0.8,
    })))  # fmt: skip
    csat = kpis["csat_top2"]
    assert (csat.heading, csat.column_head, csat.why_name) == (
        "Satisfied customers (4 or 5 of 5)",
    ) * 3
    assert items_text(csat, 3) == "3 with csat below 4"
    assert items_text(kpis["first_contact_resolution"], 1) == "1 with contacts other than 1"
    assert kpis["both"].behind == "with csat not in 4, 5 or with reworked not true"
    assert items_text(kpis["handle_minutes"], None) == "not listed"  # a mean lists no items
    # The built-in ones, as the reports have always named them.
    assert items_text(kpis["on_time_rate"], 14) == "14 late"
    speed = kpis.dimensions["speed"]
    assert (speed.heading, speed.column_head, speed.why_name) == (
        "Speed (on time)", "On time", "on time",
    )  # fmt: skip


def test_a_special_cause_in_a_declared_rate_is_a_night_s_signal(sqlite_url, tmp_path):
    """The night's alerts read the charts the reports draw: a declared rate of requests whose
    last month falls below its lower limit is in the ledger's signals (it was not: the night
    charted the built-in rates only, so this alert could never be sent)."""
    import json

    import scorecard

    # Urgent requests: 20 a month, all answered from February to June; 2 of 20 in July.
    requests = [
        request(f"r{month}-{n}", "A", "urgent", f"2026-{month:02d}-10 09:00",
                f"2026-{month:02d}-10 10:00" if month < 7 or n < 2 else None)
        for month in range(2, 8)
        for n in range(20)
    ]  # fmt: skip
    load(sqlite_url, {**ROWS, "requests": requests})
    kpis = {
        "urgent_answered": {
            "title": "Urgent requests answered", "table": "requests", "kind": "rate",
            "trial": {"column": "priority", "in": ["urgent"]},
            "success": {"column": "first_response_at", "not_null": True},
            "floor": 0.5, "target": 1.0,
        },
    }  # fmt: skip
    out = tmp_path / "out"
    config = make_config(
        kpis=kpis,
        run={"period": "month", "history_periods": 5, "output_dir": str(out),
             "formats": ["csv"]},
    )  # fmt: skip
    result = scorecard.run(config, database_url=sqlite_url, as_of=AS_OF)
    assert result.exit_code == 0, result.problems
    lines = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    signals = lines[-1]["signals"]
    assert [s for s in signals.get("A", []) if s.startswith("urgent_answered|outside|2026-07")]
