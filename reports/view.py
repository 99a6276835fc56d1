"""Plain view models for the templates: dicts and dataclasses of display-ready values.

Templates never see a DataFrame. Every number a template prints is formatted
here from the score table, so the reports show exactly what scores.csv holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

from extract.activity import Activity
from scorecard.config import DIMENSIONS, Config
from scoring.catalogue import DIMENSION_KPI
from scoring.periods import Period

DASH = "–"
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


_NAME_PART = 60
_ID_PART = 40


def _bounded(slug: str, length: int) -> str:
    return slug[:length].strip("-")


def _id_digest(vendor_id: str, salt: int = 0) -> str:
    return hashlib.sha256(f"{vendor_id}|{salt}".encode()).hexdigest()[:12]


def vendor_slugs(vendors: Sequence[tuple[str, str]]) -> dict[str, str]:
    """File name per vendor ID: `<name>_<id>`, unique, at most about 115 characters.

    Each vendor's file name comes from its own name and ID alone, so renaming, adding or
    dropping another vendor never changes it (the email journal and every link rely on that).
    The name part is the name's slug (at most 60 characters; "vendor" when nothing is left);
    the ID part is the ID's slug, or a digest of the ID where that slug is empty, longer than
    40 characters, or made by another ID too (IDs differing only in case or punctuation).
    A name's slug never holds "_", so no name and ID can make another vendor's file name.
    """
    names = {
        vendor_id: _bounded(slugify(name), _NAME_PART) or "vendor" for vendor_id, name in vendors
    }
    id_parts = {vendor_id: slugify(vendor_id) for vendor_id, _ in vendors}
    shared = {part for part, count in Counter(id_parts.values()).items() if count > 1}
    slugs: dict[str, str] = {}
    taken: set[str] = set()
    for vendor_id in sorted(names):
        part = id_parts[vendor_id]
        if not part or len(part) > _ID_PART or part in shared:
            part = _id_digest(vendor_id)
        salt = 0
        while f"{names[vendor_id]}_{part}" in taken:  # a digest equal to an ID's slug: never seen
            salt += 1
            part = _id_digest(vendor_id, salt)
        slugs[vendor_id] = f"{names[vendor_id]}_{part}"
        taken.add(slugs[vendor_id])
    return slugs


def vendor_slug(vendor_id: str, name: str) -> str:
    """One vendor's file name (vendor_slugs), which no other vendor changes."""
    return vendor_slugs([(vendor_id, name)])[vendor_id]


# The locale numbers and dates are written in ([reports] locale), per process: None keeps
# the locale-free style (1,234.5 and ISO dates) the gold files and tests are written in.
_locale: str | None = None


def use_locale(locale: str | None) -> None:
    global _locale
    _locale = locale


def _grouped(value: float, digits: int, signed: bool = False) -> str:
    # The figure as written (its shortest decimal), rounded half to even like every written
    # figure (scoring.money): 1.275 reads 1.28, never 1.27 from the float just below it.
    exact = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_EVEN)
    if _locale is None:
        return f"{exact:{'+' if signed else ''},.{digits}f}"
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    if signed:
        pattern = f"+{pattern};-{pattern}"
    return str(format_decimal(exact, format=pattern, locale=_locale))


def day(value: dt.date) -> str:
    """A date as readers of the locale write it (30.09.2026), or ISO without a locale."""
    if _locale is None:
        return value.isoformat()
    from babel.dates import format_date

    return str(format_date(value, format="medium", locale=_locale))


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
    return DASH if value is None else f"{_grouped(value * 100, digits)} %"


def num(value: float | int | None, digits: int = 0) -> str:
    return DASH if value is None else _grouped(value, digits)


def money(value: float | None, currency: str, digits: int = 0) -> str:
    return DASH if value is None else f"{_grouped(value, digits)} {currency}"


def signed_money(value: float | None, currency: str) -> str:
    return DASH if value is None else f"{_grouped(value, 0, signed=True)} {currency}"


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


# What a composite's change class says was tested: the rates behind the score (two-proportion
# test) and its cost, never the score itself. "+27" with a grey class is a move of the score
# that no tested rate behind it supports, not a change "within noise" of the score.
COMPOSITE_CHANGE_NOTE = {
    "real": "a real change: a rate behind it changed beyond chance, or its cost moved",
    "noise": "not shown to be real: no rate behind it changed beyond chance, cost unchanged",
    "": "not tested",
}
# The vendor-facing composite has no cost in it (contract section 12): its note names none.
FACING_CHANGE_NOTE = {
    "real": "a real change: a rate behind it changed beyond chance",
    "noise": "not shown to be real: no rate behind it changed beyond chance",
    "": "not tested",
}


def composite_change_note(change_class: str, internal: bool) -> str:
    """What a composite's change class says was tested, for the reader of that document."""
    return (COMPOSITE_CHANGE_NOTE if internal else FACING_CHANGE_NOTE)[change_class]


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


def too_little_activity(row: dict[str, Any], min_items: int) -> str:
    """The first days of a period (contract section 11): until the current period holds
    `scoring.min_rank_items` work items for a vendor, no standing, rank or score change is
    claimed for it there, and its last period is the headline. Says so ("" once it holds
    enough). In-house teams are the baseline, never ranked: the rule is the ranking's, so
    it leaves them as they are."""
    items = int(row.get("work_items_completed") or 0)
    if items >= min_items or row.get("sourcing") == "in_house":
        return ""
    return f"too little activity so far ({num(items)} {'item' if items == 1 else 'items'})"


def hours(value: float | None) -> str:
    return DASH if value is None else f"{_grouped(value, 1)} h"


def ratio_text(value: float | None) -> str:
    return DASH if value is None else f"{_grouped(value, 2)}×"


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
    company: str
    """The company's name ([reports] company_name), or empty."""
    logo_uri: str
    """The company's logo as a data: URI, or empty."""
    accent: str
    document: str = ""
    """What the document is, recorded in its metadata (document_key): checked before it is sent."""


def document_key(vendor_id: str | None) -> str:
    """The PDF's Keywords and HTML's keywords: which vendor's document it is (its ID in hex,
    so no character of an ID can be lost or changed on the way)."""
    return (
        "scorecard-portfolio"
        if vendor_id is None
        else f"scorecard-vendor {vendor_id.encode().hex()}"
    )


def context_for(
    config: Config,
    periods: Sequence[Period],
    as_of: dt.date,
    title: str,
    document: str = "",
) -> ReportContext:
    current = periods[-1]
    return ReportContext(
        title=title,
        as_of=as_of.isoformat(),
        period_label=current.label,
        period_range=f"{day(current.start)} to {day(current.end)}",
        window_range=f"{day(periods[0].start)} to {day(current.end)}",
        period_kind=config.run.period,
        base_currency=config.currency.base,
        generated=f"Data as of the end of {day(as_of)} (UTC)",
        history_labels=[p.label for p in periods],
        company=config.reports.company_name or "",
        logo_uri=config.reports.logo_data_uri(config.base_dir),
        accent=config.reports.accent_colour,
        document=document,
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
    "SOURCING_TITLE",
    "ReportContext",
    "change",
    "change_class",
    "composite_change",
    "composite_change_note",
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
    "too_little_activity",
    "unranked_reason",
    "use_locale",
    "vendor_slugs",
]
