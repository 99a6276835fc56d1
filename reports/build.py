"""Turn the score table into the portfolio pack and one scorecard per vendor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
from scorecard.errors import OutputError
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
from scoring.periods import Period
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
) -> None:
    _WORKER.update(
        inputs=inputs,
        formats=tuple(formats),
        slugs=slugs,
        ranked=ranked,
        monthly=monthly,
        renderer=Renderer(
            inputs.config.scoring.standings,
            inputs.config.reports.template_folder(inputs.config.base_dir),
        ),
    )
    # Worker processes format numbers too: each sets the locale for itself.
    use_locale(inputs.config.reports.locale)


def _render_vendor(job: VendorJob) -> Rendered:
    started = time.perf_counter()
    inputs: ReportInputs = _WORKER["inputs"]
    renderer: Renderer = _WORKER["renderer"]
    before = renderer.pdf_seconds, renderer.pdf_pages
    charts = vendor_charts(_WORKER["monthly"].get(job.vendor_id), catalogue(inputs.config))
    current = inputs.periods[-1].label
    files: dict[str, bytes] = {}
    for folder, internal in job.variants:
        model = build_vendor(inputs, job.vendor_id, _WORKER["ranked"], internal, charts)
        title = f"Vendor scorecard {current}: {model['vendor']['name']}"
        context = context_for(
            inputs.config, inputs.periods, inputs.as_of, title, document_key(job.vendor_id)
        )
        html = renderer.html("vendor.html", ctx=context, **model)
        stem = f"{folder}/{_WORKER['slugs'][job.vendor_id]}"
        files.update(renderer.outputs(stem, html, _WORKER["formats"]))
    seconds, pages = renderer.pdf_seconds - before[0], renderer.pdf_pages - before[1]
    took = time.perf_counter() - started
    return Rendered(files, seconds, pages, len(job.variants), took, peak_rss_mib())


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


def _render_portfolio() -> Rendered:
    """The portfolio pack, from the inputs _start_worker set in this process."""
    inputs: ReportInputs = _WORKER["inputs"]
    renderer: Renderer = _WORKER["renderer"]
    before = renderer.pdf_seconds, renderer.pdf_pages
    current = inputs.periods[-1].label
    title = f"Vendor performance review {current}"
    context = context_for(inputs.config, inputs.periods, inputs.as_of, title, document_key(None))
    # Only the signals are read from these: the figures are on each vendor's scorecard.
    kpis = catalogue(inputs.config)
    charts_by_vendor = {v: vendor_charts(frame, kpis) for v, frame in _WORKER["monthly"].items()}
    started = time.perf_counter()
    html = renderer.html(
        "portfolio.html", ctx=context, **build_portfolio(inputs, _WORKER["slugs"], charts_by_vendor)
    )
    del charts_by_vendor
    files = renderer.outputs("portfolio", html, _WORKER["formats"])
    seconds, pages = renderer.pdf_seconds - before[0], renderer.pdf_pages - before[1]
    took = time.perf_counter() - started
    return Rendered(files, seconds, pages, 1, took, peak_rss_mib())


def _portfolio_process(send: Any, *worker_args: Any) -> None:
    """Body of the pack's own process: renders it and sends back the Rendered, or the error."""
    try:
        _start_worker(*worker_args)
        result: Rendered | Exception = _render_portfolio()
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

    def __init__(self, server: Any, worker_args: tuple[Any, ...]) -> None:
        self._receive, send = server.Pipe(duplex=False)
        self._process = server.Process(
            target=_portfolio_process, args=(send, *worker_args), name="scorecard-portfolio"
        )
        self._process.start()
        send.close()  # the child's end only: a child that dies closes it, and recv sees EOF

    def ready(self) -> bool:
        return bool(self._receive.poll())

    def result(self) -> Rendered:
        try:
            result = self._receive.recv()
        except EOFError:
            self._process.join()
            raise OutputError(
                "the process rendering the portfolio pack ended without it (exit code "
                f"{self._process.exitcode}; killed for want of memory?); the run is not published"
            ) from None
        finally:
            self._receive.close()
        self._process.join()
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, Rendered)
        return result

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


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
) -> dict[str, bytes]:
    """Every report file of the run, by its path relative to the run folder.

    Vendor scorecards render in parallel processes (reports.workers, 0 = every
    core), and the portfolio pack in one more meanwhile; with one process, all
    render here. The log ends with each one's peak RSS. With a `sink`, each file
    is handed to it as soon as it is made and none is kept (memory stays flat
    however many vendors there are); the dict returned is then empty.
    vendors: only these vendors' scorecards (scorecard run --vendor); portfolio: the pack too.
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
    # The monthly sums behind the control charts: small, and split per vendor once.
    monthly = by_vendor(
        monthly_rates(
            inputs.data.work_item_days, catalogue(inputs.config), inputs.data.request_days
        )
    )

    documents = sum(len(job.variants) for job in jobs)
    timeout = inputs.config.reports.render_timeout_seconds
    pool = None
    pack: PortfolioProcess | None = None

    def take(rendered: Rendered) -> None:
        for relative, content in rendered.files.items():
            keep(relative, content)
        stats.weasyprint_seconds += rendered.weasyprint_seconds
        stats.pdf_pages += rendered.pages
        stats.documents += rendered.documents
        tick(stats.documents, documents + int(portfolio))

    def take_scorecards(results: Iterable[Rendered]) -> None:
        for rendered in results:
            # Held to the limit by its own render time: one that finished while nobody waited
            # (in one process, the pack was rendering) is judged as one that was waited for.
            if rendered.seconds > timeout * rendered.documents:
                raise multiprocessing.TimeoutError
            take(rendered)
            if pool is not None:
                stats.worker_peak_rss_mib = max(
                    stats.worker_peak_rss_mib or 0.0, rendered.peak_rss_mib
                )
            if pack is not None and pack.ready():
                take_portfolio(pack.result(), separate=True)

    def take_portfolio(rendered: Rendered, separate: bool) -> None:
        nonlocal pack
        pack = None
        take(rendered)
        stats.portfolio_seconds = rendered.seconds
        stats.portfolio_pages = rendered.pages
        if separate:
            stats.portfolio_peak_rss_mib = rendered.peak_rss_mib
        progress(
            f"rendered the portfolio pack: {stats.portfolio_pages} pages "
            f"in {stats.portfolio_seconds:.1f} s"
        )

    worker_args = (_for_workers(inputs), formats, slugs, ranked, monthly)
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
                pack = PortfolioProcess(server, worker_args)
            pool = server.Pool(workers, initializer=_start_worker, initargs=worker_args)
            pending = pool.imap(_render_vendor, jobs)
        if pool is None:
            _start_worker(inputs, formats, slugs, ranked, monthly)
            if portfolio:
                take_portfolio(_render_portfolio(), separate=False)
            take_scorecards(map(_render_vendor, jobs))
        else:
            # Nothing is rendered here, but the emails format numbers in the reader's locale.
            use_locale(inputs.config.reports.locale)
            # Each scorecard must arrive within the timeout, so a stuck render cannot hang the night.
            take_scorecards(pending.next(timeout=timeout) for _ in jobs)
        if pack is not None:
            take_portfolio(pack.result(), separate=True)
    except multiprocessing.TimeoutError:
        raise OutputError(
            f"a scorecard took longer than reports.render_timeout_seconds = {timeout:g} s to render; "
            "the run is not published"
        ) from None
    finally:
        if pack is not None:
            pack.stop()  # only after an error: the pack is taken, and pack None, otherwise
        if pool is not None:
            pool.terminate()  # stops workers still busy after an error; idle ones just exit
            pool.join()
    stats.workers = max(workers, 1)
    stats.wall_seconds = time.perf_counter() - started
    stats.main_peak_rss_mib = peak_rss_mib()
    noun = "process" if stats.workers == 1 else "processes"
    progress(
        f"rendered {documents} vendor scorecards with {stats.workers} {noun}: "
        f"{stats.pdf_pages} PDF pages in all, {stats.wall_seconds:.1f} s"
    )
    progress(memory_line(stats))
    return files
