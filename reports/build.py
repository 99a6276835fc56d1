"""Turn the score table into the portfolio pack and one scorecard per vendor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from extract.activity import Activity
from reports.credits import portfolio_credits
from reports.render import Renderer
from reports.vendor import build_vendor
from reports.view import (
    DASH,
    DIMENSION_KPI,
    SOURCING_TITLE,
    change,
    change_class,
    composite_change,
    context_for,
    country_name,
    data_quality_rows,
    day,
    document_key,
    money,
    num,
    pct,
    process_title,
    ratio_text,
    score,
    signed_money,
    table_counts,
    too_little_activity,
    unranked_reason,
    use_locale,
    vendor_slugs,
)
from scorecard.config import DIMENSIONS, Config
from scorecard.errors import TemplateFailure
from scoring.catalogue import BUILT_IN_CATALOGUE, Catalogue, Kpi, catalogue
from scoring.control import (
    ControlChart,
    by_vendor,
    measure_titles,
    monthly_rates,
    vendor_charts,
)
from scoring.credits import ServiceCredits
from scoring.metrics import wilson_interval
from scoring.periods import Period, periods_for
from scoring.table import ALL_PROCESSES, IN_HOUSE


@dataclass(frozen=True)
class ReportInputs:
    table: pl.DataFrame
    data: Activity
    periods: list[Period]
    config: Config
    as_of: dt.date
    credits: ServiceCredits | None = None
    """Service levels and credits, when the config holds contracts."""
    restated: tuple[tuple[str, str, str], ...] = ()
    """(period, vendor ID, why): closed periods whose published figures this run computes
    differently (contract section 11); the documents say so next to the figure."""

    def __post_init__(self) -> None:
        # Every name a report or an email shows is cut to a readable length here, once: a
        # name of 10,240 characters made the PDF render for half an hour. The CSV and JSON
        # tables keep the full name (they are written from the scores, not from these).
        object.__setattr__(self, "table", shown_names(self.table, "vendor_name"))
        object.__setattr__(
            self,
            "data",
            dataclasses.replace(self.data, vendors=shown_names(self.data.vendors, "name")),
        )
        if self.credits is not None:
            credits = self.credits
            object.__setattr__(
                self,
                "credits",
                dataclasses.replace(
                    credits,
                    levels=shown_names(credits.levels, "vendor_name"),
                    months=shown_names(credits.months, "vendor_name"),
                ),
            )


SHOWN_NAME_CHARACTERS = 120
"""The longest vendor name a report shows; a longer one ends in an ellipsis."""


def shown_name(name: pl.Expr) -> pl.Expr:
    """The name as the reports show it: at most SHOWN_NAME_CHARACTERS characters."""
    cut = SHOWN_NAME_CHARACTERS - 1
    return (
        pl.when(name.str.len_chars() > SHOWN_NAME_CHARACTERS)
        .then(name.str.slice(0, cut).str.strip_chars_end() + pl.lit("\u2026"))
        .otherwise(name)
    )


def shown_names(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """The frame with its names cut for showing (a frame without that column as it is)."""
    if column not in frame.columns:
        return frame
    return frame.with_columns(shown_name(pl.col(column)).alias(column))


def _all_rows(table: pl.DataFrame, period: str) -> dict[str, dict[str, Any]]:
    frame = table.filter((pl.col("process") == ALL_PROCESSES) & (pl.col("period") == period))
    return {row["vendor_id"]: row for row in frame.to_dicts()}


def _vendor_info(data: Activity) -> dict[str, dict[str, Any]]:
    return {row["vendor_id"]: row for row in data.vendors.to_dicts()}


def _composite_history(table: pl.DataFrame, labels: Sequence[str]) -> dict[str, list[float | None]]:
    """Each vendor's composite per period, in one pass over the table (not one filter per vendor)."""
    by_vendor: dict[str, dict[str, float | None]] = {}
    for vendor_id, period, composite in (
        table.filter(pl.col("process") == ALL_PROCESSES)
        .select("vendor_id", "period", "composite_score")
        .iter_rows()
    ):
        by_vendor.setdefault(vendor_id, {})[period] = composite
    return {v: [scores.get(label) for label in labels] for v, scores in by_vendor.items()}


def _ranking_row(row: dict[str, Any], previous: dict[str, Any] | None, info: dict[str, Any],
                 slug: str | None, currency: str, history: Sequence[float | None],
                 min_items: int, last_label: str | None = None) -> dict[str, Any]:  # fmt: skip
    from reports import charts

    early = too_little_activity(row, min_items)
    shown = {
        "rank": "" if row["rank"] is None else str(row["rank"]),
        "unranked": early or unranked_reason(row, min_items),
        "early": "",
        "last_label": "",
        "name": row["vendor_name"],
        "vendor_id": row["vendor_id"],
        "sourcing": SOURCING_TITLE.get(row["sourcing"], row["sourcing"]),
        "country": country_name(info.get("country")),
        "items_completed": num(row["work_items_completed"]),
        "composite": score(row["composite_score"]),
        "standing": row["standing"],
        "scores": {d: score(row[f"{d}_score"]) for d in DIMENSIONS},
        "score_values": {d: row[f"{d}_score"] for d in DIMENSIONS},
        "change": change(composite_change(row, previous)),
        "change_class": change_class(row["composite_change_significant"]),
        "sparkline": charts.sparkline(history) if any(v is not None for v in history) else None,
        "trend_text": " → ".join(score(v) for v in history),
        "spend": money(row["spend"], currency),
        "savings": signed_money(row["savings_vs_in_house"], currency),
        # No link to a scorecard this run does not render (run.scorecards).
        "href": f"vendors/{slug}.html" if slug is not None else None,
    }
    # The first days of a period: the last period's figures instead of this one's claims.
    return shown | (_early_figures(previous, last_label, early) if early else {})


def _early_figures(
    previous: dict[str, Any] | None, last_label: str | None, early: str
) -> dict[str, Any]:
    """A ranking row's figures in the first days of a period (contract section 11): the last
    period's composite and standing, named so; no change; this period's dimension scores
    as plain figures, not coloured as standings."""
    scored = previous is not None and previous["composite_score"] is not None
    return {
        "early": early,
        "last_label": last_label if scored else "",
        "composite": score(previous["composite_score"]) if scored and previous else DASH,
        "standing": previous["standing"] if scored and previous else "not scored",
        "change": DASH,
        "change_class": "",
        "score_values": dict.fromkeys(DIMENSIONS),
    }


def contract_ended(vendors: pl.DataFrame, rows: Mapping[str, dict[str, Any]], start: dt.date
                   ) -> set[str]:  # fmt: skip
    """The vendors whose contract ended before the current period (it starts on `start`)
    and that have no activity in it (contract section 11): listed as "contract ended",
    never mailed."""
    return {
        vendor_id
        for vendor_id, end in vendors.select("vendor_id", "contract_end").iter_rows()
        if end is not None and end < start and not _active(rows.get(vendor_id) or {})
    }


# The executive summary names this many vendors per standing, then counts the rest.
SUMMARY_NAMES = 8


def _named(names: Sequence[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:SUMMARY_NAMES])
    more = len(names) - SUMMARY_NAMES
    return shown if more <= 0 else f"{shown} and {more} more (see the ranking)"


def portfolio_signals(
    charts_by_vendor: Mapping[str, Sequence[ControlChart]],
    names: Mapping[str, str],
    since: str,
    titles: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The special-cause signals across vendors that reach into the current period (month
    `since` on): worse ones first, the most recent first. Older ones are on each scorecard."""
    found = [
        (vendor_id, signal)
        for vendor_id, vendor_charts in charts_by_vendor.items()
        if vendor_id in names
        for chart in vendor_charts
        for signal in chart.signals
        if signal.last_month >= since
    ]
    found.sort(key=lambda f: f[1].last_month, reverse=True)
    found.sort(key=lambda f: f[1].better)
    titles = titles if titles is not None else measure_titles(BUILT_IN_CATALOGUE)
    return [
        {
            "name": names[vendor_id],
            "measure": titles[signal.measure],
            "signal": signal.description,
            "months": signal.months,
            "better": signal.better,
        }
        for vendor_id, signal in found
    ]


def _active(row: dict[str, Any]) -> bool:
    """The vendor did something in the period: completed or had due work, opened requests
    or billed (an ALL row of a quiet period has only zeros and nulls)."""
    counts = ("work_items_completed", "items_due", "requests_opened")
    return any(row.get(c) or 0 for c in counts) or bool(row.get("spend"))


def _sum(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def build_portfolio(
    inputs: ReportInputs,
    slugs: dict[str, str],
    charts_by_vendor: Mapping[str, Sequence[ControlChart]] | None = None,
) -> dict[str, Any]:
    # Here, not at the top: matplotlib takes half a second to import, and a
    # run without HTML or PDF never draws.
    from reports import charts

    table, config = inputs.table, inputs.config
    currency = config.currency.base
    labels = [p.label for p in inputs.periods]
    current_label = labels[-1]
    previous_label = labels[-2] if len(labels) > 1 else None
    current = _all_rows(table, current_label)
    previous = _all_rows(table, previous_label) if previous_label else {}
    info = _vendor_info(inputs.data)

    def rank_key(row: dict[str, Any]) -> tuple[int, float, str]:
        return (row["rank"] or 10**6, -(row["composite_score"] or -1), row["vendor_name"])

    # A vendor whose contract ended before this period, with no activity in it, is listed as
    # "contract ended" (not among those with no activity), and leaves the pack once no
    # period the pack reports has its activity (contract section 11).
    ended = contract_ended(inputs.data.vendors, current, inputs.periods[-1].start)
    active_in = {v for label in labels for v, r in _all_rows(table, label).items() if _active(r)}
    ended_rows = sorted(
        (current[v] for v in ended if v in current and v in active_in),
        key=lambda r: (r["vendor_name"], r["vendor_id"]),
    )
    current = {v: r for v, r in current.items() if v not in ended}
    # Vendors with nothing scored in any period are listed once, in not_scored, and nowhere else.
    unscored = set(unscored_vendors(table)) - ended
    listed = [r for r in current.values() if r["vendor_id"] not in unscored]
    outsourced = sorted((r for r in listed if r["sourcing"] != IN_HOUSE), key=rank_key)
    in_house = sorted((r for r in listed if r["sourcing"] == IN_HOUSE), key=rank_key)
    # A large portfolio is summarised: the ranked vendors are listed, the others counted
    # (too little activity to rank; no activity this period) once they are more than
    # reports.list_unranked_up_to, so the pack stays a document an executive reads.
    ranked_rows = [r for r in outsourced if r["rank"] is not None]
    small = [r for r in outsourced if r["rank"] is None and _active(r)]
    inactive = [r for r in outsourced if r["rank"] is None and not _active(r)]
    list_limit = config.reports.list_unranked_up_to
    lists_all = len(small) + len(inactive) + len(unscored) <= list_limit
    shown = outsourced if lists_all else ranked_rows

    history = _composite_history(table, labels)
    min_items = config.scoring.min_rank_items

    def ranking_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            _ranking_row(r, previous.get(r["vendor_id"]), info[r["vendor_id"]], slugs.get(r["vendor_id"]),
                         currency, history.get(r["vendor_id"], []), min_items, previous_label)
            for r in rows
        ]  # fmt: skip

    ranking, in_house_rows = ranking_rows(shown), ranking_rows(in_house)
    # Movers: ranked vendors only (a handful of items proves nothing), and only real changes.
    movers = sorted(
        (
            (r["vendor_name"], delta, r)
            for r in outsourced
            if r["rank"] is not None
            and r["composite_change_significant"]
            and (delta := composite_change(r, previous.get(r["vendor_id"]))) is not None
            and round(delta) != 0
        ),
        key=lambda item: -abs(item[1]),
    )[:3]
    # Standings are claimed only for vendors with enough activity to rank: five perfect
    # items are not an "excellent" vendor.
    by_standing: dict[str, list[str]] = {}
    for r in ranked_rows:
        by_standing.setdefault(r["standing"], []).append(r["vendor_name"])
    # In the first days of a period the last period is the headline: a vendor with too little
    # activity so far is named under its last period's standing, labelled with that period.
    for r in outsourced:
        last = previous.get(r["vendor_id"])
        if (
            lists_all  # a large pack counts the unranked, it does not name them
            and r["rank"] is None
            and _active(r)
            and too_little_activity(r, min_items)
            and last is not None
            and last["composite_score"] is not None
        ):
            by_standing.setdefault(last["standing"], []).append(
                f"{r['vendor_name']} ({previous_label})"
            )
    total_spend = _sum([r["spend"] for r in outsourced])
    total_savings = _sum([r["savings_vs_in_house"] for r in outsourced])

    shown_ids = {r["vendor_id"] for r in [*shown, *in_house]}
    process_rows = table.filter(
        (pl.col("period") == current_label)
        & (pl.col("process") != ALL_PROCESSES)
        & ~pl.col("vendor_id").is_in(list(unscored))
    )
    # A process is compared with in-house only where there is an in-house baseline.
    with_baseline = process_rows.filter(pl.col("in_house_cost_per_unit").is_not_null())
    without_baseline = sorted(
        set(process_rows.get_column("process").to_list())
        - set(with_baseline.get_column("process").to_list())
    )
    process_rows = with_baseline.filter(pl.col("vendor_id").is_in(list(shown_ids))).sort(
        "process",
        pl.col("sourcing") == IN_HOUSE,
        pl.col("composite_score").fill_null(-1),
        descending=[False, False, True],
    )
    processes = []
    declared_kpis = catalogue(config).declared
    for (process,), frame in process_rows.group_by("process", maintain_order=True):
        rows = frame.to_dicts()
        # The declared KPIs measured on this process, beside the built-in ones: the in-house
        # team's figure is the baseline, or said not measured (contract sections 8, 10).
        measured = [k for k in declared_kpis if any(r[f"{k.name}_denominator"] for r in rows)]
        processes.append(
            {
                "process": process_title(str(process)),
                "in_house_cost": money(rows[0]["in_house_cost_per_unit"], currency, 2),
                "declared": [{"title": k.title, "short": k.column_head} for k in measured],
                "rows": [
                    {
                        "name": r["vendor_name"],
                        "is_in_house": r["sourcing"] == IN_HOUSE,
                        "sourcing": SOURCING_TITLE.get(r["sourcing"], r["sourcing"]),
                        "units": num(r["units_completed"]),
                        "accuracy": pct(r["accuracy"]),
                        "on_time": pct(r["on_time_rate"]),
                        "response": pct(r["response_within_target_rate"]),
                        "tco": money(r["tco_per_unit"], currency, 2),
                        "cost_ratio": ratio_text(r["cost_ratio"]),
                        "savings": DASH
                        if r["sourcing"] == IN_HOUSE
                        else signed_money(r["savings_vs_in_house"], currency),
                        "savings_negative": (r["savings_vs_in_house"] or 0) < 0,
                        "composite": score(r["composite_score"]),
                        "standing": r["standing"],
                        "declared": [_declared_cell(k, r) for k in measured],
                    }
                    for r in rows
                ],
            }
        )

    built_in = BUILT_IN_CATALOGUE.dimensions
    if charts_by_vendor is None:
        charts_by_vendor = control_charts_by_vendor(inputs.data, catalogue(config))
    names = {v: row["name"] for v, row in info.items()}
    cost_points = [
        (r["vendor_name"], r["cost_ratio"], r["accuracy"], r["spend"])
        for r in outsourced
        if r["cost_ratio"] is not None and r["accuracy"] is not None
    ]
    return {
        "summary": {
            "ranked": len(ranked_rows),
            "small": num(len(small)),
            "inactive": num(len(inactive)),
            "lists_all": lists_all,
            "not_scored_count": num(len(unscored)) if unscored else "",
            "without_baseline": [process_title(p) for p in without_baseline],
            "scored": sum(1 for r in outsourced if r["composite_score"] is not None),
            "vendors": sum(1 for r in current.values() if r["sourcing"] != IN_HOUSE),
            "excellent": _named(by_standing.get("excellent", [])),
            "good": _named(by_standing.get("good", [])),
            "watch": _named(by_standing.get("watch", [])),
            "critical": _named(by_standing.get("critical", [])),
            "unranked": sum(1 for r in outsourced if unranked_reason(r, min_items)),
            "spend_tracked": "charges" not in inputs.data.not_measured,
            "total_spend": money(total_spend, currency),
            "total_savings": signed_money(total_savings, currency),
            "savings_negative": (total_savings or 0) < 0,
            "movers": [
                {
                    "name": n,
                    "change": change(d),
                    "direction": "improving" if d > 0 else "slipping",
                    "standing": r["standing"],
                }
                for n, d, r in movers
            ],
        },
        "ranking": ranking,
        "restated": [
            {"vendor": names.get(vendor_id, vendor_id), "period": period, "why": why}
            for period, vendor_id, why in inputs.restated
        ],
        "in_house": in_house_rows,
        "contract_ended": [
            {
                "name": r["vendor_name"],
                "vendor_id": r["vendor_id"],
                "ended": day(info[r["vendor_id"]]["contract_end"]),
                "href": f"vendors/{slugs[r['vendor_id']]}.html"
                if r["vendor_id"] in slugs
                else None,
            }
            for r in ended_rows
        ],
        "not_scored": not_scored_rows(table, sorted(unscored)) if lists_all else [],
        "processes": processes,
        "signals": portfolio_signals(
            charts_by_vendor,
            names,
            inputs.periods[-1].start.strftime("%Y-%m"),
            measure_titles(catalogue(config)),
        ),
        "cost_chart": charts.cost_vs_quality(cost_points) if cost_points else None,
        "credits": portfolio_credits(
            inputs.credits,
            inputs.periods,
            dict(inputs.data.vendors.select("vendor_id", "sourcing").rows()),
            currency,
            catalogue(config),
        ),
        "cost_named": len(cost_points) <= charts.LEGEND_MAX,
        "cost_legend": charts.line_legend([p[0] for p in cost_points], lines=False)
        if len(cost_points) <= charts.LEGEND_MAX
        else [],
        "counts": table_counts(inputs.data),
        "data_quality": data_quality_rows(inputs.data),
        "methods": methods(config),
        "dimensions": [
            # Column heads of the ranking, where 14 columns share a landscape page.
            {"key": d, "title": built_in[d].heading, "short": built_in[d].column_head}
            for d in DIMENSIONS
        ],
        "declared": declared_kpi_tables(table, current_label, config),
        "min_sample": config.reports.min_sample_items,
    }


def _declared_cell(kpi: Kpi, row: dict[str, Any]) -> str:
    """A declared KPI's figure in a row of the pack; an in-house team's that is null says so."""
    from reports.vendor import NOT_IN_HOUSE, kpi_text

    if row[kpi.name] is None and row["sourcing"] == IN_HOUSE:
        return NOT_IN_HOUSE
    return kpi_text(kpi, row[kpi.name])


def declared_kpi_tables(table: pl.DataFrame, period: str, config: Config) -> list[dict[str, Any]]:
    """Per declared KPI, every vendor that has it measured this period (its ALL row): the
    figure, its interval and sample for a rate, its score and whether its change is real."""
    from reports.vendor import kpi_text

    current = table.filter(
        (pl.col("period") == period) & (pl.col("process") == ALL_PROCESSES)
    ).sort("vendor_name")
    found = []
    for kpi in catalogue(config).declared:
        name = kpi.name
        rows = []
        for r in current.filter(pl.col(f"{name}_denominator") > 0).to_dicts():
            trials = int(r[f"{name}_denominator"])
            bounds = wilson_interval(int(r[f"{name}_numerator"]), trials) if kpi.is_rate else None
            rows.append(
                {
                    "name": r["vendor_name"],
                    "is_in_house": r["sourcing"] == IN_HOUSE,
                    "kpi": kpi_text(kpi, r[name]),
                    "interval": ""
                    if bounds is None
                    else f"{bounds[0] * 100:.1f}–{bounds[1] * 100:.1f} %",
                    "sample": num(trials),
                    "small": trials < config.reports.min_sample_items,
                    "score": score(r[f"{name}_score"]),
                    "score_value": r[f"{name}_score"],
                    "change_class": change_class(r.get(f"{name}_change_significant")),
                    "previous": kpi_text(kpi, r.get(f"previous_{name}")) if kpi.is_rate else DASH,
                }
            )
        if rows:
            found.append(
                {
                    "name": name,
                    "title": kpi.title,
                    "target": kpi_text(kpi, kpi.band.target if kpi.band else None),
                    "rows": rows,
                    # The in-house baseline, measured the same way, or said to be missing.
                    "in_house": any(r["is_in_house"] for r in rows),
                }
            )
    return found


def not_scored_rows(table: pl.DataFrame, vendor_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The pack's one line per vendor not scored in any period (unscored_vendors): who it is,
    the work items it completed over the run's periods, and why nothing could be scored."""
    totals = (
        table.filter(
            (pl.col("process") == ALL_PROCESSES) & pl.col("vendor_id").is_in(list(vendor_ids))
        )
        .group_by("vendor_id")
        .agg(
            pl.col("vendor_name").first(),
            pl.col("sourcing").first(),
            pl.col("work_items_completed").fill_null(0).sum().alias("items"),
        )
        .sort(pl.col("vendor_name"), pl.col("vendor_id"))
    )
    rows = []
    for r in totals.iter_rows(named=True):
        items = r["items"]
        noun = "work item" if items == 1 else "work items"
        why = (
            "no work items completed in any period"
            if not items
            else "none of its work could be measured on any dimension (no quality checks, "
            "due dates, answered requests or charges)"
        )
        rows.append(
            {
                "name": r["vendor_name"],
                "vendor_id": r["vendor_id"],
                "sourcing": SOURCING_TITLE.get(r["sourcing"], r["sourcing"]),
                "items_completed": f"{num(items)} {noun}",
                "why": why,
            }
        )
    return rows


def methods(config: Config) -> dict[str, Any]:
    """Everything a reader needs to recompute a score by hand."""
    scoring = config.scoring
    weights = scoring.weights.model_dump()
    total = sum(weights.values())
    return {
        "dimensions": [
            {
                "title": BUILT_IN_CATALOGUE.dimensions[d].heading,
                "kpi": DIMENSION_KPI[d],
                "weight": f"{weights[d]:g} ({weights[d] / total:.0%})" if total else "0",
                "floor": f"{getattr(scoring.bands, d).floor:g}",
                "target": f"{getattr(scoring.bands, d).target:g}",
            }
            for d in DIMENSIONS
        ]
        + [
            {
                "title": kpi.title,
                "kpi": kpi.name,
                "weight": f"{weights.get(kpi.name, 0):g} ({weights.get(kpi.name, 0) / total:.0%})"
                if total
                else "0",
                "floor": f"{kpi.band.floor:g}" if kpi.band else DASH,
                "target": f"{kpi.band.target:g}" if kpi.band else DASH,
            }
            for kpi in catalogue(config).declared
        ],
        "standings": {k: f"{v:g}" for k, v in scoring.standings.model_dump().items()},
        "min_rank_items": num(scoring.min_rank_items),
        "significance_z": f"{scoring.significance_z:g}",
        "significance_level": significance_level(scoring.significance_z),
        "governance_overhead": pct(scoring.governance_overhead, 0),
        "response_targets": {
            k: f"{v:g} h" for k, v in config.response_targets_hours.hours().items()
        },
        "base_currency": config.currency.base,
        "rates": [
            {"currency": c, "rate": f"{r:g}"} for c, r in sorted(config.currency.rates.items())
        ],
        "in_house": [
            {
                "process": process_title(process),
                "salary": num(m.salary),
                "benefits": pct(m.benefits_pct, 0),
                "training": num(m.training),
                "workspace": num(m.workspace),
                "tools": num(m.tools),
                "management": pct(m.management_overhead_pct, 0),
                "hours": num(m.productive_hours),
                "units_per_hour": f"{m.units_per_hour:g}",
                "cost_per_unit": money(m.cost_per_unit(), config.currency.base, 2),
            }
            for process, m in sorted(config.in_house.items())
        ],
    }


def significance_level(z: float) -> str:
    """The two-sided level of a |z| threshold, for the methods page ("1 %")."""
    level = math.erfc(z / math.sqrt(2)) * 100
    return f"{level:.2g} %"


def control_charts_by_vendor(
    data: Activity, kpis: Catalogue = BUILT_IN_CATALOGUE
) -> dict[str, list[ControlChart]]:
    return {
        v: vendor_charts(frame, kpis)
        for v, frame in by_vendor(
            monthly_rates(data.work_item_days, kpis, data.request_days)
        ).items()
    }


def unscored_vendors(table: pl.DataFrame) -> list[str]:
    """The vendors with nothing scored in any reported period: their ALL row has no composite
    in any period of the run. They stay in the score table, and the pack lists them in one
    place; they get no scorecard and no scorecard email."""
    totals = table.filter(pl.col("process") == ALL_PROCESSES)
    unscored = totals.group_by("vendor_id").agg(
        pl.col("composite_score").is_null().all().alias("none")
    )
    return sorted(unscored.filter(pl.col("none")).get_column("vendor_id").to_list())


def scorecard_scope(table: pl.DataFrame, scope: str) -> set[str] | None:
    """The vendors whose scorecards run.scorecards asks for (None: every scored vendor).

    all: every vendor scored in some period; active: those with activity in the current
    period; ranked: those ranked in it (outsourced, enough work items); none: the pack alone.
    """
    if scope == "all":
        return None
    current = table.filter(pl.col("is_current") & (pl.col("process") == ALL_PROCESSES))
    if scope == "ranked":
        chosen = current.filter(pl.col("rank").is_not_null())
    elif scope == "active":
        chosen = current.filter(
            (pl.col("work_items_completed").fill_null(0) > 0)
            | (pl.col("items_due").fill_null(0) > 0)
            | (pl.col("requests_opened").fill_null(0) > 0)
            | (pl.col("spend").fill_null(0) != 0)
        )
    else:
        chosen = current.clear()
    return set(chosen.get_column("vendor_id").to_list())


def report_slugs(table: pl.DataFrame, scope: str = "all") -> dict[str, str]:
    """The file name (without suffix) of each scored vendor's scorecard under vendors/: every
    vendor but those not scored in any period (unscored_vendors), and of those only the ones
    run.scorecards (`scope`) asks for. The slugs are made among all the vendors, so a
    vendor's file name does not change when another one is scored or not."""
    pairs = table.select("vendor_id", "vendor_name").unique().sort("vendor_id").rows()
    unscored = set(unscored_vendors(table))
    chosen = scorecard_scope(table, scope)
    return {
        v: slug
        for v, slug in vendor_slugs(pairs).items()
        if v not in unscored and (chosen is None or v in chosen)
    }


def expected_documents(table: pl.DataFrame, scope: str = "all") -> dict[str, str]:
    """What each report file may be, by its path in the run folder, and the document key it
    must record: the portfolio, or one vendor's scorecard (internal or vendor-facing)."""
    expected = {f"portfolio{suffix}": document_key(None) for suffix in (".pdf", ".html")}
    for vendor_id, slug in report_slugs(table, scope).items():
        for folder in ("vendors", "vendor-facing"):
            for suffix in (".pdf", ".html"):
                expected[f"{folder}/{slug}{suffix}"] = document_key(vendor_id)
    return expected


@dataclass(frozen=True)
class VendorJob:
    """One vendor's scorecards: the internal one and, where it has one, the vendor-facing one.

    Both variants render in the same worker, so the charts they share are drawn once.
    """

    vendor_id: str
    variants: tuple[tuple[str, bool], ...]
    """(folder, internal) of each document."""


@dataclass(frozen=True)
class FailedDocument:
    """A document the run could not render (it raised, or took longer than its limit): it is
    not written, not sent, and the run exits 1 naming it."""

    vendor_id: str | None
    """None: the portfolio pack."""
    paths: tuple[str, ...]
    """Every file it would have been, by path in the run folder."""
    why: str

    def line(self) -> str:
        what = (
            "the portfolio pack" if self.vendor_id is None else f"the scorecard of {self.vendor_id}"
        )
        return (
            f"{what} ({', '.join(self.paths)}) was not rendered: {self.why}; it is left out of "
            "this run and not sent, and the next run renders it again"
        )


@dataclass(frozen=True)
class PreviousPdf:
    """A PDF of an earlier run that this run may reuse instead of rendering it again."""

    source: Path
    """The file itself, in the earlier run's folder."""
    run_day: str
    """That run's folder (its as-of day)."""
    rendered_as_of: str
    """The as-of day the PDF was rendered with (it prints that day)."""
    digest: str
    """render_digest of the HTML it was made from."""


@dataclass
class RenderStats:
    documents: int = 0
    pdf_pages: int = 0
    weasyprint_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 1
    portfolio_seconds: float = 0.0
    portfolio_pages: int = 0
    main_peak_rss_mib: float = 0.0
    """This process's peak RSS since it started (the extract and score stage's included)."""
    portfolio_peak_rss_mib: float | None = None
    """The peak of the process that rendered the pack, when not this one."""
    worker_peak_rss_mib: float | None = None
    """The largest peak of the scorecard worker processes, when there are any."""
    failed: list[FailedDocument] = field(default_factory=list)
    """Documents left out of the run (a render that raised or took too long)."""
    pdfs: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per PDF written: the as-of day it was rendered with, its render digest and, when it is
    an earlier run's file reused, that run's day ("reused_from"). manifest.json's documents."""

    @property
    def pdfs_rendered(self) -> int:
        return sum(1 for record in self.pdfs.values() if "reused_from" not in record)


@dataclass(frozen=True)
class Rendered:
    """What one render hands back: its files, by path in the run folder, and its figures."""

    files: dict[str, bytes]
    weasyprint_seconds: float
    pages: int
    documents: int
    seconds: float
    """Wall time of the whole render: view model, charts, HTML and PDF."""
    peak_rss_mib: float
    """The peak RSS of the process that rendered it, so far."""
    failed: FailedDocument | None = None
    """Set when the render failed: files is then empty."""
    reused: dict[str, PreviousPdf] = field(default_factory=dict)
    """PDFs not rendered: an earlier run's file is linked in their place."""
    pdfs: dict[str, dict[str, str]] = field(default_factory=dict)
    """RenderStats.pdfs, for this render's PDFs."""


class RenderTimeout(BaseException):
    """A render ran past its limit. A BaseException, so that no `except Exception` inside a
    library swallows it on the way out."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise RenderTimeout in this process once `seconds` have passed (SIGALRM), so a slow
    layout is stopped where it is. Outside the main thread no signal can be used: the caller
    then judges the render by its time once it has finished."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise RenderTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    # Again every half second after the first: WeasyPrint swallows any exception while it
    # draws an SVG chart, and the render must not go on past its limit for that.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render_key(config: Config) -> str:
    """What a PDF depends on beyond its HTML: the package and WeasyPrint versions, the print
    stylesheet and the config (but for settings that change no document: processes, limits,
    email). A PDF is reused only when this and its HTML are what they were."""
    import weasyprint

    from reports.render import print_stylesheet
    from scorecard import __version__

    settings = config.public_dict()
    settings.pop("email", None)
    for knob in ("workers", "render_timeout_seconds", "portfolio_render_timeout_seconds"):
        settings.get("reports", {}).pop(knob, None)
    parts = [
        __version__,
        weasyprint.__version__,
        print_stylesheet(),
        json.dumps(settings, sort_keys=True, default=str),
    ]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def render_digest(key: str, html: str) -> str:
    """The digest a PDF is known by: its render key and the HTML it is made from."""
    return hashlib.sha256(f"{key}\0{html}".encode()).hexdigest()


def peak_rss_mib() -> float:
    """This process's peak resident set size so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux counts it in KiB, macOS in bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# What the fork server imports once for every render worker: everything a scorecard needs
# (polars is imported there but never used, so no thread pool exists yet when it forks).
WORKER_PRELOAD = [
    "reports.build",
    "reports.charts",
    "reports.vendor",
    "weasyprint",
    "weasyprint.text.fonts",
]

# Per worker process: the inputs and one Renderer, whose fonts and CSS serve every document.
_WORKER: dict[str, Any] = {}


def _start_worker(
    inputs: ReportInputs,
    formats: Sequence[str],
    slugs: dict[str, str],
    ranked: int,
    monthly: dict[str, pl.DataFrame],
    previous: Mapping[str, PreviousPdf] | None = None,
    key: str = "",
) -> None:
    _WORKER.clear()  # nothing of an earlier run in this process (inputs_as_of's cache)
    _WORKER.update(
        inputs=inputs,
        formats=tuple(formats),
        slugs=slugs,
        ranked=ranked,
        monthly=monthly,
        previous=previous or {},
        key=key,
        renderer=Renderer(
            inputs.config.scoring.standings,
            inputs.config.reports.template_folder(inputs.config.base_dir),
        ),
    )
    # Worker processes format numbers too: each sets the locale for itself.
    use_locale(inputs.config.reports.locale)


def _outputs(
    stem: str,
    html: str,
    html_as_of: Callable[[str], str],
    found: Rendered,
    before_pdf: Callable[[], None] = lambda: None,
) -> None:
    """The document's files into found.files, its PDF reused when an earlier run's has the same
    digest. html_as_of(day): the same document with the dates of the as-of day `day` (the
    day the earlier PDF was rendered with): equal to that PDF's HTML, the PDF shows tonight's
    figures exactly, and the day it prints was true of them then and still is."""
    renderer: Renderer = _WORKER["renderer"]
    formats, key = _WORKER["formats"], _WORKER["key"]
    inputs: ReportInputs = _WORKER["inputs"]
    if "html" in formats:
        found.files[f"{stem}.html"] = html.encode("utf-8")
    if "pdf" not in formats:
        return
    path = f"{stem}.pdf"
    earlier: PreviousPdf | None = _WORKER["previous"].get(path)
    if earlier is not None:
        same_day = earlier.rendered_as_of == inputs.as_of.isoformat()
        then = html if same_day else html_as_of(earlier.rendered_as_of)
        if render_digest(key, then) == earlier.digest:
            found.reused[path] = earlier
            found.pdfs[path] = {
                "rendered_as_of": earlier.rendered_as_of,
                "digest": earlier.digest,
                "reused_from": earlier.run_day,
            }
            return
    before_pdf()
    found.files[path] = renderer.pdf(html)
    found.pdfs[path] = {
        "rendered_as_of": inputs.as_of.isoformat(),
        "digest": render_digest(key, html),
    }


def _context(title: str, key: str, inputs: ReportInputs | None = None) -> Any:
    """A document's context, for the run's as-of day or an earlier one's (inputs_as_of)."""
    inputs = inputs if inputs is not None else _WORKER["inputs"]
    return context_for(inputs.config, inputs.periods, inputs.as_of, title, key)


def inputs_as_of(day: str) -> ReportInputs:
    """The run's inputs (tonight's figures) with an earlier as-of day and its periods: what
    the document would have been that day, had the figures been tonight's."""
    inputs: ReportInputs = _WORKER["inputs"]
    cached: dict[str, ReportInputs] = _WORKER.setdefault("earlier_inputs", {})
    if day not in cached:
        as_of, run = dt.date.fromisoformat(day), inputs.config.run
        periods = periods_for(as_of, run.period, run.history_periods, run.fiscal_year_start_month)
        cached[day] = dataclasses.replace(inputs, as_of=as_of, periods=periods)
    return cached[day]


def _probe(make: Callable[[ReportInputs], str], day: str) -> str:
    """The document as of an earlier day; "" when it cannot be made (its periods differ so much
    that tonight's figures do not fit them): it has changed, then."""
    try:
        return make(inputs_as_of(day))
    except Exception:
        return ""


def _vendor_paths(job: VendorJob) -> tuple[str, ...]:
    slug = _WORKER["slugs"][job.vendor_id]
    return tuple(f"{folder}/{slug}.{f}" for folder, _ in job.variants for f in _WORKER["formats"])


def _failed(vendor_id: str | None, paths: tuple[str, ...], why: str, started: float) -> Rendered:
    took = time.perf_counter() - started
    failed = FailedDocument(vendor_id, paths, why)
    return Rendered({}, 0.0, 0, 0, took, peak_rss_mib(), failed=failed)


def _why(exc: BaseException, limit: float) -> str:
    if isinstance(exc, TemplateFailure):
        raise exc  # the same for every document: the run stops (see TemplateFailure)
    if isinstance(exc, RenderTimeout):
        return f"it took longer than its limit of {limit:g} s"
    return f"rendering it failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def _render_vendor(job: VendorJob) -> Rendered:
    """One vendor's scorecards, within reports.render_timeout_seconds per document; a render
    that fails or takes longer comes back as a FailedDocument, and the run goes on."""
    started = time.perf_counter()
    inputs: ReportInputs = _WORKER["inputs"]
    limit = inputs.config.reports.render_timeout_seconds * len(job.variants)
    try:
        with time_limit(limit):
            found = _render_vendor_within(job, started)
    except (Exception, RenderTimeout) as exc:
        return _failed(job.vendor_id, _vendor_paths(job), _why(exc, limit), started)
    if found.seconds > limit:  # rendered where no signal could stop it (see time_limit)
        return _failed(job.vendor_id, _vendor_paths(job), _why(RenderTimeout(), limit), started)
    return found


def _render_vendor_within(job: VendorJob, started: float) -> Rendered:
    inputs: ReportInputs = _WORKER["inputs"]
    renderer: Renderer = _WORKER["renderer"]
    before = renderer.pdf_seconds, renderer.pdf_pages
    charts = vendor_charts(_WORKER["monthly"].get(job.vendor_id), catalogue(inputs.config))
    found = Rendered({}, 0.0, 0, len(job.variants), 0.0, 0.0)
    key = document_key(job.vendor_id)
    for folder, internal in job.variants:

        def make(inputs: ReportInputs, internal: bool = internal) -> str:
            model = build_vendor(inputs, job.vendor_id, _WORKER["ranked"], internal, charts)
            title = f"Vendor scorecard {inputs.periods[-1].label}: {model['vendor']['name']}"
            return renderer.html("vendor.html", ctx=_context(title, key, inputs), **model)

        html = make(inputs)

        def html_as_of(day: str, make: Callable[[ReportInputs], str] = make) -> str:
            return _probe(make, day)

        _outputs(f"{folder}/{_WORKER['slugs'][job.vendor_id]}", html, html_as_of, found)
    seconds, pages = renderer.pdf_seconds - before[0], renderer.pdf_pages - before[1]
    took = time.perf_counter() - started
    return dataclasses.replace(
        found, weasyprint_seconds=seconds, pages=pages, seconds=took, peak_rss_mib=peak_rss_mib()
    )


def _for_workers(inputs: ReportInputs) -> ReportInputs:
    """What the vendor scorecards need, without the per-day sums (cheaper to send)."""
    data = inputs.data
    slim = dataclasses.replace(
        data, work_item_days=data.work_item_days.clear(), request_days=data.request_days.clear()
    )
    return dataclasses.replace(inputs, data=slim)


def vendor_jobs(inputs: ReportInputs, vendor_ids: Sequence[str]) -> list[VendorJob]:
    in_house = set(
        inputs.data.vendors.filter(pl.col("sourcing") == IN_HOUSE).get_column("vendor_id").to_list()
    )
    jobs = []
    for vendor_id in vendor_ids:
        variants: list[tuple[str, bool]] = [("vendors", True)]
        # An internal team has nobody outside to send its scorecard to.
        if inputs.config.reports.vendor_facing and vendor_id not in in_house:
            variants.append(("vendor-facing", False))
        jobs.append(VendorJob(vendor_id, tuple(variants)))
    return jobs


Sink = Callable[[str, bytes], None]
Link = Callable[[str, Path], None]


def _portfolio_paths() -> tuple[str, ...]:
    return tuple(f"portfolio.{f}" for f in _WORKER["formats"])


def _render_portfolio(limit: float) -> Rendered:
    """The portfolio pack, from the inputs _start_worker set in this process, within `limit`
    seconds; a failure comes back as a FailedDocument."""
    started = time.perf_counter()
    try:
        with time_limit(limit):
            found = _render_portfolio_within()
    except (Exception, RenderTimeout) as exc:
        return _failed(None, _portfolio_paths(), _why(exc, limit), started)
    if found.seconds > limit:
        return _failed(None, _portfolio_paths(), _why(RenderTimeout(), limit), started)
    return found


def _render_portfolio_within() -> Rendered:
    inputs: ReportInputs = _WORKER["inputs"]
    renderer: Renderer = _WORKER["renderer"]
    before = renderer.pdf_seconds, renderer.pdf_pages
    key = document_key(None)
    # Only the signals are read from these: the figures are on each vendor's scorecard.
    kpis = catalogue(inputs.config)
    charts_by_vendor = {v: vendor_charts(frame, kpis) for v, frame in _WORKER["monthly"].items()}
    started = time.perf_counter()

    def make(inputs: ReportInputs) -> str:
        title = f"Vendor performance review {inputs.periods[-1].label}"
        model = build_portfolio(inputs, _WORKER["slugs"], charts_by_vendor)
        return renderer.html("portfolio.html", ctx=_context(title, key, inputs), **model)

    html = make(inputs)

    def html_as_of(day: str) -> str:
        return _probe(make, day)

    found = Rendered({}, 0.0, 0, 1, 0.0, 0.0)
    # The charts go before the PDF's layout, which takes the memory.
    _outputs("portfolio", html, html_as_of, found, before_pdf=charts_by_vendor.clear)
    seconds, pages = renderer.pdf_seconds - before[0], renderer.pdf_pages - before[1]
    took = time.perf_counter() - started
    return dataclasses.replace(
        found, weasyprint_seconds=seconds, pages=pages, seconds=took, peak_rss_mib=peak_rss_mib()
    )


def _portfolio_process(send: Any, limit: float, *worker_args: Any) -> None:
    """Body of the pack's own process: renders it and sends back the Rendered, or the error."""
    try:
        _start_worker(*worker_args)
        result: Rendered | Exception = _render_portfolio(limit)
    except Exception as exc:  # handed to the parent, which raises it
        result = exc
    send.send(result)
    send.close()


class PortfolioProcess:
    """The portfolio pack rendered in a process of its own, beside the scorecard workers.

    WeasyPrint lays out a whole document at once, about 3 MiB per page of the pack, and a
    process keeps the memory it has used. In a process of its own that memory is not added to
    the data the run's process holds, and it is all given back when the pack is made. Started
    from the fork server, the process holds only what the scorecard workers hold.
    """

    def __init__(self, server: Any, limit: float, worker_args: tuple[Any, ...]) -> None:
        self.limit = limit
        self.started = time.monotonic()
        self._receive, send = server.Pipe(duplex=False)
        self._process = server.Process(
            target=_portfolio_process, args=(send, limit, *worker_args), name="scorecard-portfolio"
        )
        self._process.start()
        send.close()  # the child's end only: a child that dies closes it, and recv sees EOF

    def ready(self) -> bool:
        return bool(self._receive.poll())

    def result(self, paths: tuple[str, ...]) -> Rendered:
        """The pack, or a FailedDocument: the process died, raised, or is still at it well
        past its limit (it stops itself at the limit; this is for a render stuck in C code)."""
        started = time.perf_counter()
        deadline = self.started + self.limit + BACKSTOP_SECONDS
        try:
            if not self._receive.poll(max(deadline - time.monotonic(), 0)):
                self.stop()
                return _failed(None, paths, _why(RenderTimeout(), self.limit), started)
            result = self._receive.recv()
        except EOFError:
            self._process.join()
            return _failed(
                None,
                paths,
                f"the process rendering it ended without it (exit code {self._process.exitcode}; "
                "killed for want of memory?)",
                started,
            )
        finally:
            self._receive.close()
        self._process.join()
        if isinstance(result, BaseException):
            return _failed(None, paths, _why(result, self.limit), started)
        assert isinstance(result, Rendered)
        return result

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


BACKSTOP_SECONDS = 10.0
"""How long past a render's limit the run waits for a process that did not stop itself."""


def memory_line(stats: RenderStats) -> str:
    """The peaks of the render's processes, as the log says them (bench/run.py reads it back)."""
    parts = [f"main process {stats.main_peak_rss_mib:.0f} MiB"]
    if stats.portfolio_peak_rss_mib is not None:
        parts.append(f"portfolio process {stats.portfolio_peak_rss_mib:.0f} MiB")
    if stats.worker_peak_rss_mib is not None:
        parts.append(f"largest scorecard worker {stats.worker_peak_rss_mib:.0f} MiB")
    return "peak RSS: " + ", ".join(parts)


def render_reports(
    inputs: ReportInputs,
    formats: Sequence[str],
    progress: Callable[[str], None],
    stats: RenderStats | None = None,
    tick: Callable[[int, int], None] = lambda done, total: None,
    sink: Sink | None = None,
    vendors: Sequence[str] | None = None,
    portfolio: bool = True,
    previous: Mapping[str, PreviousPdf] | None = None,
    link: Link | None = None,
) -> dict[str, bytes]:
    """Every report file of the run, by its path relative to the run folder.

    Vendor scorecards render in parallel processes (reports.workers, 0 = every
    core), and the portfolio pack in one more meanwhile; with one process, all
    render here. The log ends with each one's peak RSS. With a `sink`, each file
    is handed to it as soon as it is made and none is kept (memory stays flat
    however many vendors there are); the dict returned is then empty.
    vendors: only these vendors' scorecards (scorecard run --vendor); portfolio: the pack too.

    Each render has a limit (reports.render_timeout_seconds per scorecard, the pack's from
    ReportsConfig.portfolio_timeout): a document that takes longer, or raises, is left out and
    listed in stats.failed; the others are made as usual. previous: earlier runs' PDFs by path
    (output.run_folder.reusable_pdfs); one whose document has not changed is not rendered
    again but handed to `link` (default: its bytes are kept as a made file would be).
    """
    started = time.perf_counter()
    stats = stats if stats is not None else RenderStats()
    slugs = report_slugs(inputs.table, inputs.config.run.scorecards)
    current = inputs.periods[-1].label
    ranked = inputs.table.filter(
        (pl.col("period") == current) & pl.col("rank").is_not_null()
    ).height
    # A vendor not scored in any period has no scorecard (the pack lists it): never a job.
    jobs = vendor_jobs(inputs, sorted(slugs if vendors is None else set(vendors) & set(slugs)))
    workers = min(inputs.config.reports.workers or os.cpu_count() or 1, len(jobs))
    files: dict[str, bytes] = {}
    keep = sink if sink is not None else files.__setitem__

    def keep_earlier(relative: str, source: Path) -> None:
        keep(relative, source.read_bytes())

    put_earlier = link if link is not None else keep_earlier
    # The monthly sums behind the control charts: small, and split per vendor once.
    monthly = by_vendor(
        monthly_rates(
            inputs.data.work_item_days, catalogue(inputs.config), inputs.data.request_days
        )
    )

    documents = sum(len(job.variants) for job in jobs)
    timeout = inputs.config.reports.render_timeout_seconds
    pack_limit = inputs.config.reports.portfolio_timeout(inputs.data.vendors.height)
    pack_paths = tuple(f"portfolio.{f}" for f in formats)
    pool = None
    pack: PortfolioProcess | None = None

    def take(rendered: Rendered) -> None:
        if rendered.failed is not None:
            stats.failed.append(rendered.failed)  # the run names it among its problems
            tick(stats.documents + len(stats.failed), documents + int(portfolio))
            return
        for relative, content in rendered.files.items():
            keep(relative, content)
        for relative, earlier in rendered.reused.items():
            put_earlier(relative, earlier.source)
        stats.pdfs.update(rendered.pdfs)
        stats.weasyprint_seconds += rendered.weasyprint_seconds
        stats.pdf_pages += rendered.pages
        stats.documents += rendered.documents
        tick(stats.documents + len(stats.failed), documents + int(portfolio))

    def take_scorecards(results: Iterable[Rendered]) -> None:
        for rendered in results:
            take(rendered)
            if pool is not None:
                stats.worker_peak_rss_mib = max(
                    stats.worker_peak_rss_mib or 0.0, rendered.peak_rss_mib
                )
            if pack is not None and pack.ready():
                take_portfolio(pack.result(pack_paths), separate=True)

    def take_portfolio(rendered: Rendered, separate: bool) -> None:
        nonlocal pack
        pack = None
        take(rendered)
        if rendered.failed is not None:
            return
        stats.portfolio_seconds = rendered.seconds
        stats.portfolio_pages = rendered.pages
        if separate:
            stats.portfolio_peak_rss_mib = rendered.peak_rss_mib
        progress(
            f"rendered the portfolio pack: {stats.portfolio_pages} pages "
            f"in {stats.portfolio_seconds:.1f} s"
            + (" (its PDF reused from an earlier run)" if rendered.reused else "")
        )

    def waited(job: VendorJob, pending: Any) -> Rendered:
        """A scorecard from the pool: the worker stops a render at its limit itself; one stuck
        where no signal reaches it is given up on a little later (its process ends with the pool)."""
        limit = timeout * len(job.variants)
        try:
            result: Rendered = pending.get(timeout=limit + BACKSTOP_SECONDS)
        except multiprocessing.TimeoutError:
            slug = slugs[job.vendor_id]
            paths = tuple(f"{folder}/{slug}.{f}" for folder, _ in job.variants for f in formats)
            return _failed(job.vendor_id, paths, _why(RenderTimeout(), limit), time.perf_counter())
        return result

    worker_args = (_for_workers(inputs), formats, slugs, ranked, monthly, previous or {},
                   render_key(inputs.config))  # fmt: skip
    try:
        if workers > 1:
            # Forked from a fork server, not from this process: polars' thread pool does not
            # survive a fork of a process that has used it. The server imports the stage modules
            # once, so each worker starts with them loaded instead of importing polars,
            # matplotlib and WeasyPrint again.
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload(WORKER_PRELOAD)
            if portfolio:
                # The longest document starts first, in a process of its own (see PortfolioProcess).
                pack = PortfolioProcess(server, pack_limit, worker_args)
            pool = server.Pool(workers, initializer=_start_worker, initargs=worker_args)
            pending = [pool.apply_async(_render_vendor, (job,)) for job in jobs]
        if pool is None:
            _start_worker(inputs, *worker_args[1:])
            if portfolio:
                take_portfolio(_render_portfolio(pack_limit), separate=False)
            take_scorecards(map(_render_vendor, jobs))
        else:
            # Nothing is rendered here, but the emails format numbers in the reader's locale.
            use_locale(inputs.config.reports.locale)
            take_scorecards(waited(job, result) for job, result in zip(jobs, pending, strict=True))
        if pack is not None:
            take_portfolio(pack.result(pack_paths), separate=True)
    finally:
        if pack is not None:
            pack.stop()  # only after an error: the pack is taken, and pack None, otherwise
        if pool is not None:
            pool.terminate()  # stops workers still busy or stuck; idle ones just exit
            pool.join()
    stats.workers = max(workers, 1)
    stats.wall_seconds = time.perf_counter() - started
    stats.main_peak_rss_mib = peak_rss_mib()
    noun = "process" if stats.workers == 1 else "processes"
    left_out = {f.vendor_id for f in stats.failed}
    made = sum(len(job.variants) for job in jobs if job.vendor_id not in left_out)
    progress(
        f"rendered {made} vendor scorecards with {stats.workers} {noun}: "
        f"{stats.pdf_pages} PDF pages in all, {stats.wall_seconds:.1f} s"
    )
    if previous:
        progress(
            f"PDFs: {stats.pdfs_rendered} rendered, {len(stats.pdfs) - stats.pdfs_rendered} "
            "reused from an earlier run (their documents had not changed)"
        )
    progress(memory_line(stats))
    return files
