"""Turn the score table into the portfolio pack and one scorecard per vendor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from scorecard.config import DIMENSIONS, Config
from scorecard.errors import OutputError
from scorecard.extract.activity import Activity
from scorecard.reports.render import Renderer
from scorecard.reports.vendor import build_vendor
from scorecard.reports.view import (
    DASH,
    DIMENSION_KPI,
    DIMENSION_TITLE,
    SOURCING_TITLE,
    change,
    composite_change,
    context_for,
    data_quality_rows,
    money,
    num,
    pct,
    ratio_text,
    score,
    signed_money,
    table_counts,
    vendor_slugs,
)
from scorecard.scoring.periods import Period
from scorecard.scoring.table import ALL_PROCESSES, IN_HOUSE


@dataclass(frozen=True)
class ReportInputs:
    table: pl.DataFrame
    data: Activity
    periods: list[Period]
    config: Config
    as_of: dt.date


def _all_rows(table: pl.DataFrame, period: str) -> dict[str, dict[str, Any]]:
    frame = table.filter((pl.col("process") == ALL_PROCESSES) & (pl.col("period") == period))
    return {row["vendor_id"]: row for row in frame.to_dicts()}


def _vendor_info(data: Activity) -> dict[str, dict[str, Any]]:
    return {row["vendor_id"]: row for row in data.vendors.to_dicts()}


def _score_series(
    table: pl.DataFrame, vendor_id: str, labels: Sequence[str], column: str
) -> list[float | None]:
    rows = {
        r["period"]: r[column]
        for r in table.filter(
            (pl.col("vendor_id") == vendor_id) & (pl.col("process") == ALL_PROCESSES)
        ).to_dicts()
    }
    return [rows.get(label) for label in labels]


def _ranking_row(row: dict[str, Any], previous: dict[str, Any] | None, info: dict[str, Any],
                 slug: str, currency: str) -> dict[str, Any]:  # fmt: skip
    return {
        "rank": "" if row["rank"] is None else str(row["rank"]),
        "name": row["vendor_name"],
        "vendor_id": row["vendor_id"],
        "sourcing": SOURCING_TITLE.get(row["sourcing"], row["sourcing"]),
        "country": info.get("country") or DASH,
        "composite": score(row["composite_score"]),
        "standing": row["standing"],
        "scores": {d: score(row[f"{d}_score"]) for d in DIMENSIONS},
        "score_values": {d: row[f"{d}_score"] for d in DIMENSIONS},
        "change": change(composite_change(row, previous)),
        "spend": money(row["spend"], currency),
        "savings": signed_money(row["savings_vs_in_house"], currency),
        "href": f"vendors/{slug}.html",
    }


def _sum(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def build_portfolio(inputs: ReportInputs, slugs: dict[str, str]) -> dict[str, Any]:
    # Here, not at the top: matplotlib takes half a second to import, and a
    # run without HTML or PDF never draws.
    from scorecard.reports import charts

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

    outsourced = sorted((r for r in current.values() if r["sourcing"] != IN_HOUSE), key=rank_key)
    in_house = sorted((r for r in current.values() if r["sourcing"] == IN_HOUSE), key=rank_key)

    def ranking_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            _ranking_row(r, previous.get(r["vendor_id"]), info[r["vendor_id"]], slugs[r["vendor_id"]], currency)
            for r in rows
        ]  # fmt: skip

    ranking, in_house_rows = ranking_rows(outsourced), ranking_rows(in_house)
    movers = sorted(
        (
            (r["vendor_name"], delta, r)
            for r in outsourced
            if (delta := composite_change(r, previous.get(r["vendor_id"]))) is not None
        ),
        key=lambda item: -abs(item[1]),
    )[:3]
    by_standing: dict[str, list[str]] = {}
    for r in outsourced:
        by_standing.setdefault(r["standing"], []).append(r["vendor_name"])
    total_spend = _sum([r["spend"] for r in outsourced])
    total_savings = _sum([r["savings_vs_in_house"] for r in outsourced])

    process_rows = table.filter(
        (pl.col("period") == current_label) & (pl.col("process") != ALL_PROCESSES)
    ).sort(
        "process",
        pl.col("sourcing") == IN_HOUSE,
        pl.col("composite_score").fill_null(-1),
        descending=[False, False, True],
    )
    processes = []
    for (process,), frame in process_rows.group_by("process", maintain_order=True):
        rows = frame.to_dicts()
        processes.append(
            {
                "process": str(process),
                "in_house_cost": money(rows[0]["in_house_cost_per_unit"], currency, 2),
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
                    }
                    for r in rows
                ],
            }
        )

    trend_ids = [r["vendor_id"] for r in outsourced]
    series = {
        info[v]["name"]: _score_series(table, v, labels, "composite_score") for v in trend_ids
    }
    cost_points = [
        (r["vendor_name"], r["cost_ratio"], r["accuracy"], r["spend"])
        for r in outsourced
        if r["cost_ratio"] is not None and r["accuracy"] is not None
    ]
    return {
        "summary": {
            "scored": sum(1 for r in outsourced if r["composite_score"] is not None),
            "vendors": len(outsourced),
            "excellent": by_standing.get("excellent", []),
            "good": by_standing.get("good", []),
            "watch": by_standing.get("watch", []),
            "critical": by_standing.get("critical", []),
            "spend_tracked": "charges" not in inputs.data.not_measured,
            "total_spend": money(total_spend, currency),
            "total_savings": signed_money(total_savings, currency),
            "savings_negative": (total_savings or 0) < 0,
            "movers": [
                {"name": n, "change": change(d), "standing": r["standing"]} for n, d, r in movers
            ],
        },
        "ranking": ranking,
        "in_house": in_house_rows,
        "processes": processes,
        "trend_chart": charts.score_trend(labels, series) if series else None,
        "trend_table": [
            {"name": name, "values": [score(v) for v in values]} for name, values in series.items()
        ],
        "cost_chart": charts.cost_vs_quality(cost_points) if cost_points else None,
        "counts": table_counts(inputs.data),
        "data_quality": data_quality_rows(inputs.data),
        "methods": methods(config),
        "dimensions": [{"key": d, "title": DIMENSION_TITLE[d]} for d in DIMENSIONS],
    }


def methods(config: Config) -> dict[str, Any]:
    """Everything a reader needs to recompute a score by hand."""
    scoring = config.scoring
    weights = scoring.weights.model_dump()
    total = sum(weights.values())
    return {
        "dimensions": [
            {
                "title": DIMENSION_TITLE[d],
                "kpi": DIMENSION_KPI[d],
                "weight": f"{weights[d]:g} ({weights[d] / total:.0%})" if total else "0",
                "floor": f"{getattr(scoring.bands, d).floor:g}",
                "target": f"{getattr(scoring.bands, d).target:g}",
            }
            for d in DIMENSIONS
        ],
        "standings": {k: f"{v:g}" for k, v in scoring.standings.model_dump().items()},
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
                "process": process,
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


def report_slugs(table: pl.DataFrame) -> dict[str, str]:
    """The file name (without suffix) of each scored vendor's scorecard under vendors/."""
    pairs = table.select("vendor_id", "vendor_name").unique().sort("vendor_id").rows()
    return vendor_slugs(pairs)


@dataclass(frozen=True)
class VendorJob:
    vendor_id: str
    folder: str
    internal: bool


@dataclass
class RenderStats:
    documents: int = 0
    pdf_pages: int = 0
    weasyprint_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 1


# Per worker process: the inputs and one Renderer, whose fonts and CSS serve every document.
_WORKER: dict[str, Any] = {}


def _start_worker(
    inputs: ReportInputs, formats: Sequence[str], slugs: dict[str, str], ranked: int
) -> None:
    _WORKER.update(
        inputs=inputs,
        formats=tuple(formats),
        slugs=slugs,
        ranked=ranked,
        renderer=Renderer(inputs.config.scoring.standings),
    )


def _render_vendor(job: VendorJob) -> tuple[dict[str, bytes], float, int]:
    inputs: ReportInputs = _WORKER["inputs"]
    renderer: Renderer = _WORKER["renderer"]
    before = renderer.pdf_seconds, renderer.pdf_pages
    model = build_vendor(inputs, job.vendor_id, _WORKER["ranked"], internal=job.internal)
    current = inputs.periods[-1].label
    title = f"Vendor scorecard {current}: {model['vendor']['name']}"
    context = context_for(inputs.config, inputs.periods, inputs.as_of, title)
    html = renderer.html("vendor.html", ctx=context, **model)
    stem = f"{job.folder}/{_WORKER['slugs'][job.vendor_id]}"
    files = renderer.outputs(stem, html, _WORKER["formats"])
    return files, renderer.pdf_seconds - before[0], renderer.pdf_pages - before[1]


def _for_workers(inputs: ReportInputs) -> ReportInputs:
    """What the vendor scorecards need, without the per-day sums (cheaper to send)."""
    data = inputs.data
    slim = dataclasses.replace(
        data, work_item_days=data.work_item_days.clear(), request_days=data.request_days.clear()
    )
    return ReportInputs(inputs.table, slim, inputs.periods, inputs.config, inputs.as_of)


def vendor_jobs(inputs: ReportInputs, vendor_ids: Sequence[str]) -> list[VendorJob]:
    in_house = set(
        inputs.data.vendors.filter(pl.col("sourcing") == IN_HOUSE).get_column("vendor_id").to_list()
    )
    jobs = []
    for vendor_id in vendor_ids:
        jobs.append(VendorJob(vendor_id, "vendors", True))
        # An internal team has nobody outside to send its scorecard to.
        if inputs.config.reports.vendor_facing and vendor_id not in in_house:
            jobs.append(VendorJob(vendor_id, "vendor-facing", False))
    return jobs


def render_reports(
    inputs: ReportInputs,
    formats: Sequence[str],
    progress: Callable[[str], None],
    stats: RenderStats | None = None,
    tick: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, bytes]:
    """Every report file of the run, by its path relative to the run folder.

    Vendor scorecards render in parallel processes (reports.workers, 0 = every
    core); the portfolio pack renders here meanwhile.
    """
    started = time.perf_counter()
    stats = stats if stats is not None else RenderStats()
    slugs = report_slugs(inputs.table)
    current = inputs.periods[-1].label
    ranked = inputs.table.filter(
        (pl.col("period") == current) & pl.col("rank").is_not_null()
    ).height
    jobs = vendor_jobs(inputs, sorted(slugs))
    workers = min(inputs.config.reports.workers or os.cpu_count() or 1, len(jobs))
    files: dict[str, bytes] = {}

    def collect(results: Any) -> None:
        for job_files, seconds, pages in results:
            files.update(job_files)
            stats.weasyprint_seconds += seconds
            stats.pdf_pages += pages
            stats.documents += 1
            tick(stats.documents, len(jobs) + 1)

    timeout = inputs.config.reports.render_timeout_seconds
    pool = None
    if workers > 1:
        # Spawned, not forked: polars' thread pool does not survive a fork.
        pool = multiprocessing.get_context("spawn").Pool(
            workers,
            initializer=_start_worker,
            initargs=(_for_workers(inputs), formats, slugs, ranked),
        )
        pending = pool.imap(_render_vendor, jobs)
    _start_worker(inputs, formats, slugs, ranked)
    renderer: Renderer = _WORKER["renderer"]
    title = f"Vendor performance review {current}"
    context = context_for(inputs.config, inputs.periods, inputs.as_of, title)
    html = renderer.html("portfolio.html", ctx=context, **build_portfolio(inputs, slugs))
    collect(
        [(renderer.outputs("portfolio", html, formats), renderer.pdf_seconds, renderer.pdf_pages)]
    )
    progress("rendered the portfolio pack")
    try:
        if pool is None:
            collect(map(_render_vendor, jobs))
        else:
            # Each scorecard must arrive within the timeout, so a stuck render cannot hang the night.
            collect(pending.next(timeout=timeout) for _ in jobs)
    except multiprocessing.TimeoutError:
        raise OutputError(
            f"a scorecard took longer than reports.render_timeout_seconds = {timeout:g} s to render; "
            "the run is not published"
        ) from None
    finally:
        if pool is not None:
            pool.terminate()  # stops workers still busy after an error; idle ones just exit
            pool.join()
    stats.workers = max(workers, 1)
    stats.wall_seconds = time.perf_counter() - started
    noun = "process" if stats.workers == 1 else "processes"
    progress(f"rendered {len(jobs)} vendor scorecards with {stats.workers} {noun}")
    return files
