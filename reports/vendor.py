"""The view model of one vendor's scorecard, internal or vendor-facing.

The vendor-facing model is built from the same rows but never receives what
must not reach the vendor: other vendors' names or figures (peers appear only
as an anonymous range) and anything from the in-house cost model.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from reports.credits import claim_text, vendor_credits
from reports.view import (
    DASH,
    DIMENSION_KPI,
    SOURCING_TITLE,
    change,
    change_class,
    composite_change,
    composite_change_note,
    country_name,
    data_quality_rows,
    hours,
    money,
    num,
    pct,
    process_title,
    ratio_text,
    score,
    signed_money,
    too_little_activity,
    unranked_reason,
)
from scorecard.config import DIMENSIONS, Config
from scoring.attribution import apportioned, contributions
from scoring.catalogue import BUILT_IN_CATALOGUE, Catalogue, Kpi, catalogue
from scoring.control import ControlChart, measure_titles
from scoring.facing import vendor_facing_table
from scoring.metrics import wilson_interval
from scoring.significance import TESTED_RATES
from scoring.table import ALL_PROCESSES, IN_HOUSE, spend_sums


def _sample(dimension: str) -> tuple[str, str]:
    """The column counting a dimension's sample, and what its trials are called (from the KPI
    catalogue; the cost ratio rests on billed units, not on a sample)."""
    kpi = BUILT_IN_CATALOGUE.dimensions[dimension]
    if not kpi.is_rate:
        return "billed_units", "billed units"
    return kpi.denominator, kpi.sample


@dataclass
class DimensionView:
    key: str
    title: str
    kpi: str
    interval: str
    """95 % Wilson interval of the KPI, where it is a proportion of a sample."""
    sample: str
    small_sample: bool
    score: str
    score_value: float | None
    inputs: str
    target: str
    in_house: str
    trend: list[str]
    change: str
    change_class: str
    """"real" (a significant change of the KPI), "noise" (greyed) or "" (not tested)."""


@dataclass(frozen=True)
class Recommendation:
    kind: str
    """action, warning, info or good: the box's colour and icon."""
    text: str


def _interval(row: dict[str, Any], dimension: str) -> tuple[str, int]:
    kpi = BUILT_IN_CATALOGUE.dimensions[dimension]
    trials = int(row[_sample(dimension)[0]] or 0)
    if not kpi.is_rate:
        return "", trials
    counted = int(row[kpi.numerator] or 0)
    successes = trials - counted if kpi.complement else counted
    bounds = wilson_interval(successes, trials)
    if bounds is None:
        return "", trials
    return f"{bounds[0] * 100:.1f}–{bounds[1] * 100:.1f} %", trials


def _computed(kpi: Kpi, row: dict[str, Any], currency: str) -> str:
    """How a built-in dimension's KPI is computed, with this row's figures."""
    if kpi.kind == "ratio":
        return (
            f"TCO {money(row['tco_per_unit'], currency, 2)} / in-house "
            f"{money(row['in_house_cost_per_unit'], currency, 2)} per unit"
        )
    share = f"{num(row[kpi.numerator])} {kpi.counts} / {num(row[kpi.denominator])} {kpi.sample}"
    return f"1 − {share}" if kpi.complement else share


def dimension_views(
    row: dict[str, Any],
    history: Sequence[dict[str, Any] | None],
    baseline: dict[str, float | None],
    config: Config,
    previous: dict[str, Any] | None,
) -> list[DimensionView]:
    bands = config.scoring.bands
    currency = config.currency.base
    views = []
    for d in DIMENSIONS:
        kpi = DIMENSION_KPI[d]
        fmt = ratio_text if d == "cost" else pct
        score_value = row[f"{d}_score"]
        previous_score = previous[f"{d}_score"] if previous else None
        interval, trials = _interval(row, d)
        views.append(
            DimensionView(
                key=d,
                title=BUILT_IN_CATALOGUE.dimensions[d].heading,
                kpi=fmt(row[kpi]),
                interval=interval,
                sample=f"n = {num(trials)} {_sample(d)[1]}",
                small_sample=score_value is not None and trials < config.reports.min_sample_items,
                score=score(score_value),
                score_value=score_value,
                inputs=_computed(BUILT_IN_CATALOGUE.dimensions[d], row, currency),
                target=fmt(getattr(bands, d).target),
                in_house="1.00×" if d == "cost" else pct(baseline.get(kpi)),
                trend=[score(h[f"{d}_score"]) if h else DASH for h in history],
                change=change(
                    None
                    if score_value is None or previous_score is None
                    else score_value - previous_score
                ),
                change_class=change_class(
                    row.get(f"{kpi}_change_significant") if kpi in TESTED_RATES else None
                ),
            )
        )
    return views + declared_views(row, history, config, previous, baseline)


NOT_IN_HOUSE = "not measured in-house"


# The median the catalogue keeps beside the mean turnaround (shown under it, not scored).
_MEDIAN_TURNAROUND = BUILT_IN_CATALOGUE["mean_turnaround_hours"].median or ""


def kpi_text(kpi: Kpi, value: float | None) -> str:
    """A KPI's figure as the reports write it: a rate as a percentage, the cost ratio as
    "0.85×", hours as hours, any other mean with its unit."""
    if kpi.is_rate:
        return pct(value)
    if kpi.kind == "ratio":
        return ratio_text(value)
    if kpi.unit == "hours":
        return hours(value)
    return DASH if value is None else f"{value:,.1f} {kpi.unit}".rstrip()


def declared_views(
    row: dict[str, Any],
    history: Sequence[dict[str, Any] | None],
    config: Config,
    previous: dict[str, Any] | None,
    baseline: Mapping[str, float | None] | None = None,
) -> list[DimensionView]:
    """The declared KPIs as rows of the dimension table (contract section 10): a rate with its
    interval, sample and test of change like the built-in rates; a mean with its values; beside
    each, the in-house teams' figure on the same processes (in_house_baseline), or "not
    measured in-house". A KPI not measured in any period shown (a payroll bureau has no
    satisfaction survey) is left out."""
    baseline = baseline or {}
    views = []
    for kpi in catalogue(config).declared:
        name = kpi.name
        if not any(h and h[f"{name}_denominator"] for h in [*history, row]):
            continue  # never measured for this vendor: not its kind of work
        numerator, trials = row[f"{name}_numerator"], int(row[f"{name}_denominator"] or 0)
        score_value = row[f"{name}_score"]
        previous_score = previous[f"{name}_score"] if previous else None
        interval = ""
        if kpi.is_rate:
            inputs = f"{num(numerator)} of {num(trials)} {kpi.sample}"
            bounds = wilson_interval(int(numerator or 0), trials)
            if bounds is not None:
                interval = f"{bounds[0] * 100:.1f}–{bounds[1] * 100:.1f} %"
        else:
            inputs = f"{kpi_text(kpi, numerator)} over {num(trials)} {kpi.sample}"
        weight = config.scoring.weights.of(name)
        views.append(
            DimensionView(
                key=name,
                title=kpi.title,
                kpi=kpi_text(kpi, row[name]),
                interval=interval,
                sample=f"n = {num(trials)} {kpi.sample}",
                small_sample=score_value is not None and trials < config.reports.min_sample_items,
                score=score(score_value),
                score_value=score_value,
                inputs=inputs + ("" if weight else " (not in the composite)"),
                target=kpi_text(kpi, kpi.band.target if kpi.band else None),
                in_house=NOT_IN_HOUSE
                if baseline.get(name) is None
                else kpi_text(kpi, baseline[name]),
                trend=[score(h[f"{name}_score"]) if h else DASH for h in history],
                change=change(
                    None
                    if score_value is None or previous_score is None
                    else score_value - previous_score
                ),
                change_class=change_class(
                    row.get(f"{name}_change_significant") if kpi.is_rate else None
                ),
            )
        )
    return views


def trend_small_samples(
    history: Sequence[dict[str, Any] | None], shown: Sequence[str], min_items: int
) -> dict[str, list[bool]]:
    """Per line of the trend chart, the periods whose score rests on fewer than `min_items`
    of its sample (the small-sample flag of the dimension table, per period). The composite
    is flagged when any dimension in it is. Cost comes from invoices, not a sample."""
    flags: dict[str, list[bool]] = {}
    for d in shown:
        trials_column = _sample(d)[0]
        flags[BUILT_IN_CATALOGUE.dimensions[d].heading] = [
            d != "cost"
            and h is not None
            and h[f"{d}_score"] is not None
            and int(h[trials_column] or 0) < min_items
            for h in history
        ]
    flags["Composite"] = [
        h is not None
        and h["composite_score"] is not None
        and any(flags[BUILT_IN_CATALOGUE.dimensions[d].heading][i] for d in shown)
        for i, h in enumerate(history)
    ]
    return flags


def in_house_baseline(
    table: pl.DataFrame,
    period: str,
    processes: Sequence[str],
    kpis: Catalogue = BUILT_IN_CATALOGUE,
) -> dict[str, float | None]:
    """In-house teams' KPIs over the same processes, measured the same way (contract section 8):
    every rate and mean of the catalogue, declared ones included, from the summed numerators
    and denominators. None: no in-house team measured it (not measured is not zero)."""
    frame = table.filter(
        (pl.col("period") == period)
        & (pl.col("sourcing") == IN_HOUSE)
        & pl.col("process").is_in(list(processes))
    )
    measured = [
        kpi
        for kpi in kpis.kpis
        if kpi.kind in ("rate", "mean") and {kpi.numerator, kpi.denominator} <= set(table.columns)
    ]
    sums = frame.select(
        *[kpi.successes.sum().alias(f"{kpi.name}/x") for kpi in measured],
        *[kpi.trials.sum().alias(f"{kpi.name}/n") for kpi in measured],
    ).row(0, named=True)
    return {
        kpi.name: sums[f"{kpi.name}/x"] / sums[f"{kpi.name}/n"]
        if sums[f"{kpi.name}/n"] and sums[f"{kpi.name}/x"] is not None
        else None
        for kpi in measured
    }


def recommendations(
    row: dict[str, Any],
    history: Sequence[dict[str, Any] | None],
    baseline: dict[str, float | None],
    service_credits: float | None,
    config: Config,
    days: int,
    contract: dict[str, Any] | None = None,
) -> list[Recommendation]:
    """Clear, documented rules; each says what it saw and what to do.

    contract: the vendor's service levels and credits (reports.credits), when
    its contract is configured: the credits it owes replace the generic line
    about the SLA credit clause.
    service_credits: None when charges are not tracked (nothing may rest on them).
    """
    currency = config.currency.base
    found: list[Recommendation] = []
    if row["standing"] == "critical":
        found.append(Recommendation(
            "action",
            f"Critical standing (composite {score(row['composite_score'])}): agree a remediation "
            "plan with the vendor and review it at the next governance meeting.",
        ))  # fmt: skip
    ratio, accuracy, in_house_accuracy = (
        row["cost_ratio"],
        row["accuracy"],
        baseline.get("accuracy"),
    )
    no_better = accuracy is not None and (
        (in_house_accuracy is None and (row["accuracy_score"] or 0) < 100)
        or (in_house_accuracy is not None and accuracy <= in_house_accuracy)
    )
    if ratio is not None and ratio > 1 and row["sourcing"] != IN_HOUSE:
        savings = row["savings_vs_in_house"]
        yearly = signed_money(None if savings is None else savings * 365 / days, currency)
        if no_better:
            compared = (
                f"{pct(accuracy)} vs {pct(in_house_accuracy)} in-house"
                if in_house_accuracy is not None
                else f"{pct(accuracy)}, below target"
            )
            found.append(Recommendation(
                "action",
                f"Dearer than in-house ({ratio_text(ratio)} the in-house cost per unit) at no better "
                f"accuracy ({compared}): renegotiate the rate or weigh bringing the work back in-house "
                f"({yearly} a year at this period's volume).",
            ))  # fmt: skip
        else:
            # Better quality may be worth a premium; finance should still see its price.
            quality = (
                f"for accuracy of {pct(accuracy)}"
                if accuracy is not None
                else "with accuracy not measured"
            )
            found.append(Recommendation(
                "info",
                f"Dearer than in-house ({ratio_text(ratio)} the in-house cost per unit, {yearly} a year "
                f"at this period's volume) {quality}: confirm the premium is worth it.",
            ))  # fmt: skip
    recent = [h for h in history[-4:] if h and h["composite_score"] is not None]
    last_four = [h["composite_score"] for h in recent]
    # "Slipping" only when each of the three drops is a real change, not noise.
    if (
        len(last_four) == 4
        and all(later < earlier for earlier, later in itertools.pairwise(last_four))
        and all(h["composite_change_significant"] for h in recent[1:])
    ):
        path = " → ".join(score(c) for c in last_four)
        found.append(Recommendation(
            "warning", f"Slipping three periods in a row (composite {path}): ask the vendor for a root-cause analysis."
        ))  # fmt: skip
    on_time, target = row["on_time_rate"], config.scoring.bands.speed.target
    if contract is not None:
        if claim := claim_text(contract):
            found.append(Recommendation("action", claim))
    elif on_time is not None and on_time < target and row["sourcing"] != IN_HOUSE:
        if service_credits is None:
            found.append(Recommendation(
                "info", f"On time {pct(on_time)} against a {pct(target)} target."
            ))  # fmt: skip
        elif service_credits < 0:
            found.append(Recommendation(
                "info",
                f"On time {pct(on_time)} against a {pct(target)} target; service credits of "
                f"{money(-service_credits, currency)} were billed this period.",
            ))  # fmt: skip
        else:
            found.append(Recommendation(
                "action",
                f"On time {pct(on_time)} against a {pct(target)} target and no service credit billed "
                "this period: check the contract's SLA credit clause and claim what is due.",
            ))  # fmt: skip
    if not found and row["standing"] in ("excellent", "good"):
        found.append(Recommendation("good", "On track: no rule calls for action this period."))
    return found


def service_credits_in(
    data_charges: pl.DataFrame, vendor_id: str, period: Any, config: Config
) -> float:
    """Service credits (negative) billed by the vendor for days in the period, in the base currency."""
    credits = data_charges.filter(
        (pl.col("vendor_id") == vendor_id) & (pl.col("kind") == "service_credit")
    )
    if credits.is_empty():
        return 0.0
    return float(spend_sums(credits, period, config.currency.to_base()).get_column("spend").sum())


def _score_range(scores: pl.Series) -> str:
    if scores.is_empty():
        return DASH
    low, high = score(scores.min()), score(scores.max())  # type: ignore[arg-type]
    return low if low == high else f"{low}–{high}"


MIN_PEERS = 3
"""Fewest other vendors whose scores a vendor-facing page may summarise."""


def peer_ranges(
    table: pl.DataFrame, vendor_id: str, period: str, processes: Sequence[str]
) -> list[dict[str, str]]:
    """Other outsourced vendors on the same processes, as an anonymous composite range."""
    peers = table.filter(
        (pl.col("period") == period)
        & (pl.col("process").is_in(list(processes)))
        & (pl.col("vendor_id") != vendor_id)
        & (pl.col("sourcing") != IN_HOUSE)
        & pl.col("composite_score").is_not_null()
    )
    ranges = []
    for process in processes:
        scores = peers.filter(pl.col("process") == process).get_column("composite_score")
        # With one or two others, a "range" would tell a vendor its competitors' own scores.
        shown = _score_range(scores) if scores.len() >= MIN_PEERS else (
            f"not shown: fewer than {MIN_PEERS} other vendors" if scores.len() else DASH
        )  # fmt: skip
        ranges.append({"process": process, "count": str(scores.len()), "range": shown})
    return ranges


def build_vendor(
    inputs: Any,
    vendor_id: str,
    portfolio_ranked: int,
    internal: bool = True,
    control: Sequence[ControlChart] = (),
) -> dict[str, Any]:
    """The scorecard model; with internal=False, the variant that is safe to send to the vendor."""
    # Here, not at the top: matplotlib takes half a second to import, and a
    # run without HTML or PDF never draws.
    from reports import charts

    table, config = inputs.table, inputs.config
    currency = config.currency.base
    labels = [p.label for p in inputs.periods]
    if not internal:
        # Made only of what it shows: nothing on it rests on the in-house cost (section 12).
        table = facing_table(table, config, labels)
        portfolio_ranked = int(
            table.filter((pl.col("period") == labels[-1]) & pl.col("rank").is_not_null()).height
        )
    current_period = inputs.periods[-1]
    vendor_rows = table.filter(pl.col("vendor_id") == vendor_id)
    all_rows = {
        r["period"]: r for r in vendor_rows.filter(pl.col("process") == ALL_PROCESSES).to_dicts()
    }
    row = all_rows[labels[-1]]
    previous = all_rows.get(labels[-2]) if len(labels) > 1 else None
    info = inputs.data.vendors.filter(pl.col("vendor_id") == vendor_id).row(0, named=True)
    process_rows = (
        vendor_rows.filter((pl.col("period") == labels[-1]) & (pl.col("process") != ALL_PROCESSES))
        .sort("process")
        .to_dicts()
    )
    processes = [r["process"] for r in process_rows]
    baseline = in_house_baseline(table, labels[-1], processes, catalogue(config))
    history = [all_rows.get(label) for label in labels]
    days = (current_period.end - current_period.start).days + 1
    dimensions = dimension_views(row, history, baseline, config, previous)
    # The first days of a period (contract section 11): no standing, rank or score change is
    # claimed from a handful of items; the last period is the headline.
    early = too_little_activity(row, config.scoring.min_rank_items)
    if early:
        dimensions = [
            dataclasses.replace(d, change=DASH, change_class="", score_value=None)
            for d in dimensions
        ]
    titles = measure_titles(catalogue(config))
    shown = [d for d in DIMENSIONS if internal or d != "cost"]
    series: dict[str, list[float | None]] = {
        "Composite": [h["composite_score"] if h else None for h in history]
    }
    for d in shown:
        series[BUILT_IN_CATALOGUE.dimensions[d].heading] = [
            h[f"{d}_score"] if h else None for h in history
        ]
    small = trend_small_samples(history, shown, config.reports.min_sample_items)
    # The declared KPIs this vendor is measured on have their line too (a rate's small
    # samples hollow, as the built-in rates').
    for view in dimensions:
        if view.key in config.kpis:
            series[view.title] = [h[f"{view.key}_score"] if h else None for h in history]
            small[view.title] = [
                h is not None
                and h[f"{view.key}_score"] is not None
                and int(h[f"{view.key}_denominator"] or 0) < config.reports.min_sample_items
                for h in history
            ]
    model: dict[str, Any] = {
        "internal": internal,
        "vendor": {
            "name": info["name"],
            "vendor_id": vendor_id,
            "sourcing": SOURCING_TITLE.get(info["sourcing"], info["sourcing"]),
            "is_in_house": info["sourcing"] == IN_HOUSE,
            "country": country_name(info["country"]),
            "currency": info["currency"],
            "manager": info["manager_email"] or DASH,
        },
        "headline": early_headline(table, labels, previous, early, config.scoring.min_rank_items)
        if early
        else {
            "early": "",
            "period": labels[-1],
            "composite": score(row["composite_score"]),
            "standing": row["standing"],
            "rank": DASH if row["rank"] is None else f"{row['rank']} of {portfolio_ranked}",
            "rank_note": unranked_reason(row, config.scoring.min_rank_items),
            "change": change(composite_change(row, previous)),
            # Every dimension in the composite, declared KPIs included, so the parts add up.
            "why": why_moved(
                row,
                previous,
                [d for d in catalogue(config).dimensions if internal or d != "cost"],
                catalogue(config).weights(config),
                catalogue(config),
            ),
            "change_class": change_class(row["composite_change_significant"]),
            "change_note": composite_change_note(
                change_class(row["composite_change_significant"]), internal
            )
            if composite_change(row, previous) is not None
            else "",
            "previous_standing": previous["standing"] if previous else DASH,
        },
        "dimensions": [v for v in dimensions if v.key in shown or v.key in config.kpis],
        "min_sample": config.reports.min_sample_items,
        # The median only when the company asked for it (scoring.median_turnaround).
        "median_turnaround": config.scoring.median_turnaround,
        "processes": [
            {
                "process": process_title(r["process"]),
                "items_completed": num(r["work_items_completed"]),
                "units": num(r["units_completed"]),
                "accuracy": pct(r["accuracy"]),
                "rework": pct(r["rework_rate"]),
                "on_time": pct(r["on_time_rate"]),
                "turnaround": hours(r["mean_turnaround_hours"]),
                "turnaround_median": hours(r[_MEDIAN_TURNAROUND]),
                "requests": num(r["requests_opened"]),
                "response": pct(r["response_within_target_rate"]),
                "first_response": hours(r["mean_first_response_hours"]),
                "spend": money(r["spend"], currency),
                "composite": score(r["composite_score"]),
            }
            for r in process_rows
        ],
        "changes": [
            c
            for c in _what_changed(row, previous, catalogue(config))
            if internal or c["column"] != "cost_ratio"
        ],
        "control": {
            "chart": charts.control_charts(control) if control else None,
            "charts": [
                {
                    "measure": titles[c.measure],
                    "method": c.method,
                    "centre": pct(c.centre),
                    "months": len(c.months),
                    "sigma_z": DASH if c.sigma_z is None else f"{c.sigma_z:.2f}",
                }
                for c in control
            ],
            "signals": [
                {
                    "measure": titles[s.measure],
                    "signal": s.description,
                    "months": s.months,
                    "better": s.better,
                }
                for c in control
                for s in c.signals
            ],
        },
        "trend_chart": charts.dimension_trend(labels, series, small),
        "trend_legend": charts.line_legend(list(series)),
        "trend_has_small": any(any(flags) for flags in small.values()),
        "trend_labels": labels,
        "trend_composite": [score(h["composite_score"]) if h else DASH for h in history],
        "trend_standing": [h["standing"] if h else DASH for h in history[:-1]]
        + [DASH if early or not history[-1] else history[-1]["standing"]],
        "trend_restated": [
            next((why for p, v, why in inputs.restated if p == label and v == vendor_id), "")
            for label in labels
        ],
        "data_quality": data_quality_rows(inputs.data, vendor_id),
        # Its own contract's levels and credits: shown on the vendor-facing scorecard too.
        "contract": vendor_credits(
            getattr(inputs, "credits", None),
            vendor_id,
            inputs.periods,
            currency,
            catalogue(inputs.config),
        ),
    }
    if internal:
        savings = row["savings_vs_in_house"]
        credits = (
            None
            if "charges" in inputs.data.not_measured
            else service_credits_in(inputs.data.charges, vendor_id, current_period, config)
        )
        model["recommendations"] = recommendations(
            {**row, "standing": None} if early else row,  # no standing claimed: no rule on it
            history, baseline, credits, config, days, model["contract"],
        )  # fmt: skip
        model["process_costs"] = [
            {
                "process": process_title(r["process"]),
                "spend": money(r["spend"], currency),
                "cost_per_unit": money(r["cost_per_unit"], currency, 2),
                "tco": money(r["tco_per_unit"], currency, 2),
                "in_house": money(r["in_house_cost_per_unit"], currency, 2),
                "cost_ratio": ratio_text(r["cost_ratio"]),
                "savings": signed_money(r["savings_vs_in_house"], currency),
            }
            for r in process_rows
        ]
        model["cost"] = {
            "spend": money(row["spend"], currency),
            "tco": money(row["tco_per_unit"], currency, 2),
            "in_house": money(row["in_house_cost_per_unit"], currency, 2),
            "savings": signed_money(savings, currency),
            "savings_negative": (savings or 0) < 0,
            "annualised": signed_money(None if savings is None else savings * 365 / days, currency),
            "days": days,
        }
    else:
        model["peers"] = peer_ranges(table, vendor_id, labels[-1], processes)
    return model


def early_headline(
    table: pl.DataFrame,
    labels: Sequence[str],
    previous: dict[str, Any] | None,
    early: str,
    min_items: int,
) -> dict[str, Any]:
    """The headline in the first days of a period: the last period's composite, standing and
    rank, named as that period's, and why the current one claims none (`early`)."""
    ranked = (
        table.filter((pl.col("period") == labels[-2]) & pl.col("rank").is_not_null()).height
        if len(labels) > 1
        else 0
    )
    rank = None if previous is None else previous["rank"]
    return {
        "early": early,
        "period": labels[-2] if previous is not None else "",
        "composite": score(None if previous is None else previous["composite_score"]),
        "standing": "not scored" if previous is None else previous["standing"],
        "rank": DASH if rank is None else f"{rank} of {ranked}",
        "rank_note": "" if previous is None else unranked_reason(previous, min_items),
        "change": DASH,
        "why": "",
        "change_class": "",
        "change_note": "",
        "previous_standing": DASH,
    }


def why_moved(
    row: dict[str, Any],
    previous: dict[str, Any] | None,
    dimensions: Sequence[str],
    weights: dict[str, float],
    kpis: Catalogue = BUILT_IN_CATALOGUE,
) -> str:
    """The composite's change as shown, split into whole points per dimension that add up to it,
    each named as the catalogue says ("-8 on time, -2 accuracy").

    A dimension scored in one period only is named so: "+3 responsiveness (new)",
    "-2 cost (not scored now)". Empty when there is no change to split.
    """
    names = {d: kpi.why_name for d, kpi in kpis.dimensions.items()}
    shown_change = composite_change(row, previous)
    if previous is None or shown_change is None:
        return ""
    parts = contributions(
        {d: row[f"{d}_score"] for d in dimensions},
        {d: previous[f"{d}_score"] for d in dimensions},
        {d: weights.get(d, 0.0) for d in dimensions},
    )
    if parts is None:
        return ""
    shares = apportioned(parts, round(shown_change))
    named = []
    for d in sorted(shares, key=lambda d: (-abs(shares[d]), dimensions.index(d))):
        if shares[d] == 0:
            continue
        came = previous[f"{d}_score"] is None
        went = row[f"{d}_score"] is None
        note = " (new)" if came else " (not scored now)" if went else ""
        named.append(f"{shares[d]:+d} {names.get(d, d)}{note}")
    return ", ".join(named)


_FACING: list[tuple[pl.DataFrame, Config, tuple[str, ...], pl.DataFrame]] = []


def facing_table(table: pl.DataFrame, config: Config, labels: Sequence[str]) -> pl.DataFrame:
    """vendor_facing_table, made once per run's table (a pack builds one scorecard per vendor)."""
    key = tuple(labels)
    for known, known_config, known_labels, facing in _FACING:
        if known is table and known_config is config and known_labels == key:
            return facing
    facing = vendor_facing_table(table, config, labels)
    _FACING[:] = [(table, config, key, facing)]
    return facing


def _what_changed(
    row: dict[str, Any], previous: dict[str, Any] | None, kpis: Catalogue = BUILT_IN_CATALOGUE
) -> list[dict[str, Any]]:
    """Each KPI of the catalogue (built-in and declared) that moved at the precision shown,
    with whether the move is likely real.

    Rates carry the two-proportion test of the score table: a real change is
    named improving or slipping; the rest is marked as within noise and greyed.
    """
    if previous is None:
        return []
    notes = []
    for kpi in kpis.kpis:
        column = kpi.name
        now, before = row.get(column), previous.get(column)
        if now is None or before is None:
            continue
        was, is_now = kpi_text(kpi, before), kpi_text(kpi, now)
        # Only what moved at the precision shown: "-0.0 pts" is noise.
        if was == is_now:
            continue
        if kpi.is_rate:
            points = (now - before) * 100
            # A change that rounds to 0.0 still moved the shown rate: give it one more digit.
            shown = f"{points:+.1f}" if round(points, 1) != 0 else f"{points:+.2f}"
            text = f"{kpi.title}: {was} → {is_now} ({shown} pts)"
        else:
            text = f"{kpi.title}: {was} → {is_now}"
        significant = row.get(f"{column}_change_significant") if kpi.is_rate else None
        z = row.get(f"{column}_change_z")
        if significant:
            better = (now > before) if kpi.higher_is_better else (now < before)
            verdict = f"{'improving' if better else 'slipping'}: a real change (z = {z:+.1f})"
        elif significant is False:
            verdict = f"within noise (z = {z:+.1f})"
        elif kpi.kind == "ratio":
            verdict = "from invoices, not a sample: not tested"
        else:
            verdict = "not tested"
        notes.append(
            {"column": column, "text": text, "verdict": verdict, "class": change_class(significant)}
        )
    return notes
