"""Vendor scorecards on the demo world: numbers match scores.csv, the vendor-facing variant leaks nothing."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.vendor import Recommendation, recommendations
from reports.view import pct, vendor_slug
from scorecard.config import config_from_mapping

AS_OF = "2026-09-30"
CONFIG = Path(__file__).resolve().parents[1] / "scorecard" / "example-config.toml"


@pytest.fixture(scope="module")
def run(tmp_path_factory, scorecard_cli) -> tuple[Path, list[dict[str, str]]]:
    base = tmp_path_factory.mktemp("vendor-reports")
    url = f"sqlite:///{base / 'demo.db'}"
    made = scorecard_cli("demo-data", "--database-url", url, "--scale", "0.1", "--through", AS_OF)
    assert made.exit_code == 0
    result = scorecard_cli.run(url, base / "out", config=CONFIG)
    assert result.exit_code == 0, result.output
    run_dir = base / "out" / AS_OF
    with (run_dir / "scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return run_dir, rows


def _text(path: Path) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(path).pages)


def _current_all(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["process"] == "ALL" and r["period"] == "2026-Q3"]


def test_every_vendor_has_a_scorecard_and_outsourced_ones_a_vendor_facing_one(run):
    run_dir, rows = run
    for row in _current_all(rows):
        slug = vendor_slug(row["vendor_id"], row["vendor_name"])
        assert (run_dir / "vendors" / f"{slug}.pdf").stat().st_size > 0
        assert (run_dir / "vendors" / f"{slug}.html").stat().st_size > 0
        facing = run_dir / "vendor-facing" / f"{slug}.pdf"
        assert facing.exists() == (row["sourcing"] != "in_house"), row["vendor_name"]


def _too_little_so_far(row: dict) -> bool:
    """An outsourced vendor with fewer than scoring.min_rank_items (30) items this period."""
    return row["sourcing"] != "in_house" and int(row["work_items_completed"] or 0) < 30


def test_the_kpis_shown_in_each_pdf_are_those_in_scores_csv(run):
    run_dir, rows = run
    for row in _current_all(rows):
        text = _text(
            run_dir / "vendors" / f"{vendor_slug(row['vendor_id'], row['vendor_name'])}.pdf"
        )
        if _too_little_so_far(row):
            # Contract section 11: the last period is the headline, this one claims nothing.
            assert "too little activity so far" in text, row["vendor_name"]
        elif row["composite_score"]:
            assert re.search(rf"(^|\s){float(row['composite_score']):.0f}\s*/ 100", text), row[
                "vendor_name"
            ]
        for column in ("accuracy", "on_time_rate", "response_within_target_rate"):
            if row[column]:
                assert pct(float(row[column])) in text, (row["vendor_name"], column)
        for column in ("defects", "qa_checked_units", "items_on_time", "items_due"):
            assert f"{int(row[column]):,}" in text, (row["vendor_name"], column)


def test_the_vendor_facing_variant_names_no_other_vendor_and_no_in_house_cost(run):
    run_dir, rows = run
    current = _current_all(rows)
    all_names = {r["vendor_name"] for r in current}
    in_house_costs = {
        f"{float(r['in_house_cost_per_unit']):,.2f}"
        for r in rows
        if r["in_house_cost_per_unit"] and r["period"] == "2026-Q3"
    }
    assert in_house_costs, "the demo has in-house costs to hide"
    for row in (r for r in current if r["sourcing"] != "in_house"):
        slug = vendor_slug(row["vendor_id"], row["vendor_name"])
        html_body = (run_dir / "vendor-facing" / f"{slug}.html").read_text().split("</style>", 1)[1]
        for text in (_text(run_dir / "vendor-facing" / f"{slug}.pdf"), html_body):
            for other in all_names - {row["vendor_name"]}:
                assert other not in text and other.replace("&", "&amp;") not in text, (
                    row["vendor_name"],
                    other,
                )
            for cost in in_house_costs:
                assert f"{cost} EUR" not in text, (row["vendor_name"], cost)
            assert "in-house" not in text.lower(), row["vendor_name"]
            assert "internal use" not in text


def test_the_internal_scorecard_does_show_the_in_house_comparison(run):
    run_dir, rows = run
    manila = next(r for r in _current_all(rows) if r["vendor_id"] == "V-PH-MNL")
    text = _text(
        run_dir / "vendors" / f"{vendor_slug(manila['vendor_id'], manila['vendor_name'])}.pdf"
    )
    assert f"{float(manila['in_house_cost_per_unit']):,.2f} EUR" in text
    assert "confidential: internal use" in text


ROW = {
    "standing": "watch", "composite_score": 60.0, "cost_ratio": 1.25, "accuracy": 0.990, "accuracy_score": 88.9,
    "sourcing": "onshore", "savings_vs_in_house": -1000.0, "on_time_rate": 0.99,
}  # fmt: skip


def _recs(row=None, history=(), baseline=None, credits=0.0) -> list[Recommendation]:
    return recommendations(ROW | (row or {}), list(history), baseline or {"accuracy": 0.995},
                           credits, config_from_mapping({}), 92)  # fmt: skip


def test_dearer_than_in_house_at_no_better_accuracy_is_flagged_with_the_yearly_loss():
    (rec,) = _recs()
    assert rec.kind == "action"
    assert rec.text.startswith(
        "Dearer than in-house (1.25× the in-house cost per unit) at no better accuracy (99.0 % vs 99.5 % in-house)"
    )
    assert "-3,967 EUR a year" in rec.text
    # Dearer, but more accurate than in-house: a choice, whose price is still stated.
    (rec,) = _recs(baseline={"accuracy": 0.980})
    assert rec.kind == "info"
    assert rec.text == (
        "Dearer than in-house (1.25× the in-house cost per unit, -3,967 EUR a year at this period's "
        "volume) for accuracy of 99.0 %: confirm the premium is worth it."
    )
    # Accuracy not measured: said so, never "for accuracy of –".
    (rec,) = _recs(row={"accuracy": None, "accuracy_score": None})
    assert rec.text.endswith("with accuracy not measured: confirm the premium is worth it.")


def test_slipping_three_periods_in_a_row():
    history = [
        {"composite_score": s, "composite_change_significant": True}
        for s in (80.0, 75.0, 70.0, 65.0)
    ]
    texts = [r.text for r in _recs(row={"cost_ratio": 0.8}, history=history)]
    assert texts == [
        "Slipping three periods in a row (composite 80 → 75 → 70 → 65): ask the vendor for a root-cause analysis."
    ]
    # "Slipping" only for real drops: one of them within noise, and nothing is claimed.
    history[2] = {"composite_score": 70.0, "composite_change_significant": False}
    assert [r.kind for r in _recs(row={"cost_ratio": 0.8}, history=history)] == []
    history[2] = {"composite_score": 76.0, "composite_change_significant": True}
    assert [r.kind for r in _recs(row={"cost_ratio": 0.8}, history=history)] == []


def test_sla_misses_with_and_without_service_credits():
    missed = {"on_time_rate": 0.90, "cost_ratio": 0.8}
    (rec,) = _recs(row=missed)
    assert rec.kind == "action" and "no service credit billed" in rec.text
    (rec,) = _recs(row=missed, credits=-1770.0)
    assert rec.kind == "info" and "service credits of 1,770 EUR were billed" in rec.text


def test_critical_standing_calls_for_a_remediation_plan_and_on_track_says_so():
    recs = _recs(row={"standing": "critical", "composite_score": 40.0, "cost_ratio": 0.8})
    assert recs[0].text.startswith("Critical standing (composite 40)")
    assert _recs(row={"standing": "excellent", "cost_ratio": 0.8}) == [
        Recommendation("good", "On track: no rule calls for action this period.")
    ]


def test_declared_kpis_are_on_the_scorecards_and_in_the_pack_as_in_scores_csv(run):
    run_dir, rows = run
    manila = next(r for r in _current_all(rows) if r["vendor_id"] == "V-PH-MNL")
    pack = " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(run_dir / "portfolio.pdf").pages
    )
    assert "KPIs you declare" in pack
    for folder in ("vendors", "vendor-facing"):
        text = _text(
            run_dir / folder / f"{vendor_slug(manila['vendor_id'], manila['vendor_name'])}.pdf"
        )
        for name, title in (
            ("csat_top2", "Satisfied customers (4 or 5 of 5)"),
            ("first_contact_resolution", "Resolved in the first contact"),
        ):
            value = pct(float(manila[name]))
            assert title in text and value in text, (folder, name)
            numerator, trials = int(manila[f"{name}_numerator"]), int(manila[f"{name}_denominator"])
            assert f"{numerator:,} of {trials:,} items" in text, (folder, name)
            assert f"{float(manila[f'{name}_score']):.0f}" in text
            assert title in pack and value in pack, name
    # The internal scorecard compares them with the in-house team on the same process
    # (Dublin's customer care), measured the same way: its summed numerators / denominators.
    dublin = next(r for r in _current_all(rows) if r["vendor_id"] == "IH-CS-DUB")
    internal = _text(
        run_dir / "vendors" / f"{vendor_slug(manila['vendor_id'], manila['vendor_name'])}.pdf"
    )
    for name, target in (("csat_top2", 0.90), ("first_contact_resolution", 0.85)):
        in_house = int(dublin[f"{name}_numerator"]) / int(dublin[f"{name}_denominator"])
        assert f"items {pct(target)} {pct(in_house)}" in internal, name  # target, in-house
    # A vendor that measures none of them shows none of them.
    payroll = _text(run_dir / "vendors" / "wisla-payroll-services-sp-z-o-o_v-pl-waw.pdf")
    assert "Satisfied customers" not in payroll


def test_the_portfolio_ranking_shows_each_vendors_scores_and_money_from_scores_csv(run):
    run_dir, rows = run
    reader = PdfReader(run_dir / "portfolio.pdf")
    texts = [" ".join(p.extract_text().split()) for p in reader.pages]
    # The ranking may run over several pages, up to the in-house teams' table.
    first = next(i for i, t in enumerate(texts) if "Ranking" in t[:200])
    last = next(i for i, t in enumerate(texts) if "In-house teams" in t)
    ranking = " ".join(texts[first : last + 1])
    outsourced = [
        r for r in _current_all(rows) if r["sourcing"] != "in_house" and r["composite_score"]
    ]
    starts = {r["vendor_name"]: ranking.index(r["vendor_name"].split()[0]) for r in outsourced}
    for row in outsourced:
        start = starts[row["vendor_name"]]
        # This vendor's row ends where the next vendor's row begins.
        end = min([s for s in starts.values() if s > start] + [ranking.index("In-house teams")])
        line = ranking[start:end]
        shown = [f"{float(row['spend']):,.0f} EUR"]
        if _too_little_so_far(row):  # its last period's composite stands in the row, labelled
            assert "too little activity so far" in line, line
        else:
            shown.append(f"{float(row['composite_score']):.0f}")
        shown += [
            f"{float(row[c]):.0f}"
            for c in ("accuracy_score", "speed_score", "cost_score", "responsiveness_score")
            if row[c]
        ]
        for figure in shown:
            assert re.search(rf"(^|\s|\+|-){re.escape(figure)}(\s|$)", line), (
                row["vendor_name"],
                figure,
                line,
            )


def test_what_changed_never_shows_a_zero_change_between_different_rates():
    from reports.vendor import _what_changed

    keys = (
        "on_time_rate",
        "response_within_target_rate",
        "rework_rate",
        "cost_ratio",
        "mean_turnaround_hours",
    )
    none = dict.fromkeys(keys)

    def texts(now: dict, before: dict) -> list[str]:
        return [c["text"] for c in _what_changed({**none, **now}, {**none, **before})]

    assert texts({"accuracy": 0.9971}, {"accuracy": 0.9975}) == [
        "Accuracy: 99.8 % → 99.7 % (-0.04 pts)"
    ]
    assert texts({"accuracy": 0.990}, {"accuracy": 0.975}) == [
        "Accuracy: 97.5 % → 99.0 % (+1.5 pts)"
    ]


def test_what_changed_names_only_real_changes_slipping_or_improving_and_greys_the_rest():
    from reports.vendor import _what_changed

    before = {"accuracy": 0.99, "on_time_rate": 0.90, "response_within_target_rate": 0.769,
              "rework_rate": 0.02, "cost_ratio": None, "mean_turnaround_hours": None}  # fmt: skip
    now = before | {
        "on_time_rate": 0.80, "on_time_rate_change_significant": True, "on_time_rate_change_z": -4.2,
        "response_within_target_rate": 0.629, "response_within_target_rate_change_significant": False,
        "response_within_target_rate_change_z": -2.1,
    }  # fmt: skip
    changes = {c["column"]: c for c in _what_changed(now, before)}
    assert changes["on_time_rate"]["verdict"] == "slipping: a real change (z = -4.2)"
    assert changes["on_time_rate"]["class"] == "real"
    assert changes["response_within_target_rate"]["verdict"] == "within noise (z = -2.1)"
    assert changes["response_within_target_rate"]["class"] == "noise"


def test_a_vendor_facing_change_note_never_speaks_of_cost():
    from reports.view import composite_change_note

    for change_class in ("real", "noise", ""):
        assert "cost" not in composite_change_note(change_class, internal=False)
    assert "cost" in composite_change_note("noise", internal=True)
