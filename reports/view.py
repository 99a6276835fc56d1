"""Plain view models for the templates: dicts and dataclasses of display-ready values.

Templates never see a DataFrame. Every number a template prints is formatted
here from the score table, so the reports show exactly what scores.csv holds.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from scorecard.config import DIMENSIONS, Config
from scorecard.extract.activity import Activity
from scorecard.scoring.periods import Period
from scorecard.scoring.table import DIMENSION_KPI

DASH = "–"
DIMENSION_TITLE = {
    "accuracy": "Accuracy",
    "speed": "Speed (on time)",
    "cost": "Cost vs in-house",
    "responsiveness": "Responsiveness",
}
SOURCING_TITLE = {
    "offshore": "Offshore",
    "nearshore": "Nearshore",
    "onshore": "Onshore",
    "in_house": "In-house",
}
# Words a process code holds that read as acronyms ("it_service_desk" -> "IT service desk").
_ACRONYMS = {"it", "hr", "qa", "kyc", "aml", "crm", "erp", "cx", "bpo", "ap", "ar", "gl", "ocr"}
_TRANSLITERATE = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "đ": "d", "&": "and"}
)


def slugify(text: str) -> str:
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode()
    )
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def vendor_slugs(vendors: Sequence[tuple[str, str]]) -> dict[str, str]:
    """File name per vendor ID, from its name; the ID is added where names would collide."""
    by_slug: dict[str, list[str]] = {}
    for vendor_id, name in vendors:
        by_slug.setdefault(slugify(name) or slugify(vendor_id), []).append(vendor_id)
    slugs = {}
    for slug, ids in by_slug.items():
        for vendor_id in ids:
            slugs[vendor_id] = slug if len(ids) == 1 else f"{slug}-{slugify(vendor_id)}"
    return slugs


def process_title(process: str) -> str:
    """A process code as words; a name that is already written as words is kept as it is."""
    if process != process.lower() or " " in process:
        return process
    words = [w for w in re.split(r"[_\-]+", process) if w]
    if not words:
        return process
    shown = [w.upper() if w in _ACRONYMS else w for w in words]
    first = shown[0]
    shown[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(shown)


def country_name(code: str | None) -> str:
    """ISO 3166-1 alpha-2 code -> its common English name (pycountry); unknown codes as given."""
    if not code:
        return DASH
    import pycountry

    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


def pct(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{digits}f} %"


def num(value: float | int | None, digits: int = 0) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def money(value: float | None, currency: str, digits: int = 0) -> str:
    return DASH if value is None else f"{value:,.{digits}f} {currency}"


def signed_money(value: float | None, currency: str) -> str:
    return DASH if value is None else f"{value:+,.0f} {currency}"


def score(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f}"


def change(value: float | None) -> str:
    if value is None:
        return DASH
    return "±0" if round(value) == 0 else f"{value:+.0f}"


def composite_change(current: dict[str, Any], previous: dict[str, Any] | None) -> float | None:
    """Composite points gained (or lost) since the previous period; None if either is unscored."""
    if (
        previous is None
        or current["composite_score"] is None
        or previous["composite_score"] is None
    ):
        return None
    return float(current["composite_score"] - previous["composite_score"])


def change_class(significant: bool | None) -> str:
    """How a change is shown: "real" (significant), "noise" (greyed) or "" (not tested)."""
    return "" if significant is None else "real" if significant else "noise"


def unranked_reason(row: dict[str, Any], min_items: int) -> str:
    """Why a scored outsourced vendor has no rank (empty when it has one or is not scored)."""
    if row["rank"] is not None or row["composite_score"] is None or row["sourcing"] == "in_house":
        return ""
    items = row["work_items_completed"]
    noun = "work item" if items == 1 else "work items"
    return f"{num(items)} {noun} completed, fewer than the {num(min_items)} needed to rank"


def hours(value: float | None) -> str:
    return DASH if value is None else f"{value:,.1f} h"


def ratio_text(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}×"


@dataclass(frozen=True)
class ReportContext:
    """What every template needs to know about the run."""

    title: str
    as_of: str
    period_label: str
    period_range: str
    window_range: str
    """All the periods shown: what the job read."""
    period_kind: str
    base_currency: str
    generated: str
    history_labels: list[str]


def context_for(
    config: Config, periods: Sequence[Period], as_of: dt.date, title: str
) -> ReportContext:
    current = periods[-1]
    return ReportContext(
        title=title,
        as_of=as_of.isoformat(),
        period_label=current.label,
        period_range=f"{current.start.isoformat()} to {current.end.isoformat()}",
        window_range=f"{periods[0].start.isoformat()} to {current.end.isoformat()}",
        period_kind=config.run.period,
        base_currency=config.currency.base,
        generated=f"Data as of the end of {as_of.isoformat()} (UTC)",
        history_labels=[p.label for p in periods],
    )


def data_quality_rows(data: Activity, vendor_id: str | None = None) -> list[dict[str, Any]]:
    frame = data.data_quality
    if vendor_id is not None:
        frame = frame.filter(pl.col("vendor_id") == vendor_id)
    return [
        {**row, "vendor_id": row["vendor_id"] or DASH, "rows_rejected": num(row["rows_rejected"])}
        for row in frame.to_dicts()
    ]


def table_counts(data: Activity) -> list[dict[str, str]]:
    return [
        {
            "table": name,
            "read": num(c.read),
            "accepted": num(c.accepted),
            "rejected": num(c.rejected),
            "share": pct(c.rejected / c.read, 2) if c.read else DASH,
        }
        for name, c in data.counts.items()
    ]


__all__ = [
    "DASH",
    "DIMENSIONS",
    "DIMENSION_KPI",
    "DIMENSION_TITLE",
    "SOURCING_TITLE",
    "ReportContext",
    "change",
    "change_class",
    "composite_change",
    "context_for",
    "country_name",
    "data_quality_rows",
    "hours",
    "money",
    "num",
    "pct",
    "process_title",
    "ratio_text",
    "score",
    "signed_money",
    "slugify",
    "table_counts",
    "unranked_reason",
    "vendor_slugs",
]
