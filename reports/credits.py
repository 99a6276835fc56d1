"""View models of service levels and credits: the portfolio's page and each vendor's section."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import polars as pl

from reports.tabular import csv_bytes
from reports.view import DASH, hours, money, num, pct, process_title
from scoring.catalogue import BUILT_IN_CATALOGUE, Catalogue, Kpi
from scoring.credits import CreditTotals, ServiceCredits, claims, credit_totals, period_months
from scoring.periods import Period, months_of
from scoring.table import IN_HOUSE

STATUS_TITLE = {
    "met": "met",
    "due": "credit due",
    "pending": "pending earn-back",
    "earned_back": "earned back",
    "not_measured": "not measured",
}


EVIDENCE_FILE = "evidence.csv"


def item_counts(credits: ServiceCredits) -> dict[tuple[str, str, str], int | None]:
    """(month, vendor_id, service_level) -> items behind that miss; empty when not read."""
    if credits.evidence_counts is None:
        return {}
    return {
        (r["month"], r["vendor_id"], r["service_level"]): r["items"]
        for r in credits.evidence_counts.iter_rows(named=True)
    }


def items_text(kpi: Kpi, count: int | None) -> str:
    """The items behind a miss, with what they are (the catalogue's `behind`): "14 late"."""
    if count is None:
        return "not listed"
    return f"{num(count)} {kpi.behind or 'behind the miss'}"


def status_title(status: str, provisional: bool) -> str:
    """A miss in a month not yet over owes nothing yet: it is never called "credit due"."""
    if provisional and status in ("due", "pending"):
        return "provisional miss: month not over"
    return STATUS_TITLE[status]


def _money2(value: float, currency: str) -> str:
    return money(value, currency, 2)


def kpi_value(kpi: Kpi, value: float | None) -> str:
    """A KPI's figure in its unit: a rate as a percentage, a mean with its unit."""
    if kpi.is_rate:
        return pct(value)
    if kpi.unit == "hours":
        return hours(value)
    return DASH if value is None else f"{value:,.1f} {kpi.unit}".rstrip()


def totals_view(totals: CreditTotals, currency: str) -> dict[str, Any]:
    return {
        "due": _money2(totals.due, currency),
        "credited": _money2(totals.credited, currency),
        "unclaimed": _money2(totals.unclaimed, currency),
        "unclaimed_value": totals.unclaimed,
        "pending": _money2(totals.pending, currency),
        "earned_back": _money2(totals.earned_back, currency),
        "provisional": _money2(totals.provisional, currency),
        "provisional_value": totals.provisional,
        "levels_due": totals.levels_due,
    }


def span_labels(periods: Sequence[Period], credits: ServiceCredits) -> dict[str, str]:
    """How the page names its two spans: this period, and the year to date within the window."""
    current, year = period_months(periods, credits.year_start)
    first_year_month = year[0] if year else periods[-1].start.strftime("%Y-%m")
    # "2026 to date" only when the run reads the (fiscal) year from its first month; else the
    # months it does read, so the label never claims more than the figure holds.
    if not year or first_year_month == credits.year_start.strftime("%Y-%m"):
        year_span = f"{credits.year_label} to date"
    else:
        year_span = (
            f"{credits.year_label} from {first_year_month} to {year[-1]} (earlier months not read)"
        )
    return {
        "period": f"{periods[-1].label} ({current[0]} to {current[-1]})"
        if len(current) > 1
        else periods[-1].label,
        "year": year_span,
    }


def portfolio_credits(
    credits: ServiceCredits | None,
    periods: Sequence[Period],
    sourcing: dict[str, str],
    currency: str,
    kpis: Catalogue = BUILT_IN_CATALOGUE,
) -> dict[str, Any] | None:
    """The "Service credits" page: per vendor, due, credited, unclaimed this period and this year."""
    if credits is None:
        return None
    current, year = period_months(periods, credits.year_start)
    months = credits.months
    vendors = []
    for (vendor_id, name), frame in months.sort("vendor_name").group_by(
        "vendor_id", "vendor_name", maintain_order=True
    ):
        if sourcing.get(str(vendor_id)) == IN_HOUSE:
            continue
        year_totals = credit_totals(frame, year)
        vendors.append(
            {
                "name": name,
                "period": totals_view(credit_totals(frame, current), currency),
                "year": totals_view(year_totals, currency),
                "_order": (-year_totals.unclaimed, -year_totals.due, str(name)),
            }
        )
    # Most money unclaimed first: the page is a to-do list for procurement.
    vendors.sort(key=lambda v: v.pop("_order"))
    missed = (
        credits.levels.filter(
            pl.col("month").is_in(current) & pl.col("status").is_in(["due", "pending"])
        )
        .sort("vendor_name", "month", "service_level")
        .to_dicts()
    )
    counts = item_counts(credits)
    year_totals = credit_totals(months, year)
    return {
        "spans": span_labels(periods, credits),
        "vendors": vendors,
        "period": totals_view(credit_totals(months, current), currency),
        "year": totals_view(year_totals, currency),
        "missed": [level_row(r, currency, counts, kpis) for r in missed],
        "evidence_file": EVIDENCE_FILE if credits.evidence is not None else None,
        "claims": claims_view(credits, currency),
        "cover_unclaimed": _money2(year_totals.unclaimed, currency)
        if year_totals.unclaimed
        else None,
    }


def claims_view(credits: ServiceCredits, currency: str) -> dict[str, Any]:
    """What credit_claims.csv holds, in the page's words: its rows and its total."""
    claim = claims(credits, currency)
    first = claim.get_column("month").min() if claim.height else None
    return {
        "file": "credit_claims.csv",
        "rows": claim.height,
        "unclaimed": _money2(float(claim.get_column("unclaimed").sum()), currency),
        "since": first or DASH,
    }


def level_row(
    row: dict[str, Any],
    currency: str,
    counts: dict[tuple[str, str, str], int | None] | None = None,
    kpis: Catalogue = BUILT_IN_CATALOGUE,
) -> dict[str, Any]:
    """One vendor x level x month; counts: the items behind each miss (item_counts)."""
    kpi = kpis[row["kpi"]]
    key = (row["month"], row["vendor_id"], row["service_level"])
    listed = counts is not None and key in counts
    higher = kpi.higher_is_better
    return {
        "month": row["month"] + (" (provisional)" if row["provisional"] else ""),
        "vendor": row["vendor_name"],
        "level": row["service_level"],
        "process": process_title(row["process"]),
        "threshold": ("≥ " if higher else "≤ ") + kpi_value(kpi, row["threshold"]),
        "actual": kpi_value(kpi, row["actual"]),
        "met": DASH if row["met"] is None else ("yes" if row["met"] else "no"),
        "missed": row["met"] is False,
        "fees": _money2(row["fees"], currency),
        "credit": _money2(row["credit"], currency) if row["credit"] else DASH,
        "status": row["status"],
        "status_title": status_title(row["status"], row["provisional"]),
        "behind": items_text(kpi, counts[key]) if counts is not None and listed else DASH,
    }


def vendor_credits(
    credits: ServiceCredits | None,
    vendor_id: str,
    periods: Sequence[Period],
    currency: str,
    kpis: Catalogue = BUILT_IN_CATALOGUE,
) -> dict[str, Any] | None:
    """One vendor's levels month by month and its credit totals; None without a contract.

    Only this vendor's rows: safe on the vendor-facing scorecard (it is their contract).
    """
    if credits is None:
        return None
    levels = credits.levels.filter(pl.col("vendor_id") == vendor_id)
    if levels.is_empty():
        return None
    months = credits.months.filter(pl.col("vendor_id") == vendor_id)
    current, year = period_months(periods, credits.year_start)
    # The last twelve months of the window, newest first.
    shown = [m.label for m in months_of(periods)][-12:]
    rows = levels.filter(pl.col("month").is_in(shown)).to_dicts()
    year_totals = credit_totals(months, year)
    counts = item_counts(credits)
    return {
        "spans": span_labels(periods, credits),
        "levels": [level_row(r, currency, counts, kpis) for r in reversed(rows)],
        "evidence": own_evidence(credits, vendor_id),
        "period": totals_view(credit_totals(months, current), currency),
        "year": totals_view(year_totals, currency),
        "year_totals": year_totals,
    }


def own_evidence(credits: ServiceCredits, vendor_id: str) -> dict[str, Any] | None:
    """This vendor's rows of evidence.csv, and nobody else's, as a file the scorecard carries.

    Matched on the whole vendor_id: "A" never picks up the rows of "AB". None when no
    evidence was read; a file with only its header when none of its levels was missed.
    """
    if credits.evidence is None:
        return None
    own = credits.evidence.filter(pl.col("vendor_id") == vendor_id)
    listed = own.filter(pl.col("reason") != "more").height
    more = own.filter(pl.col("reason") == "more").get_column("value").sum()
    payload = base64.b64encode(csv_bytes(own)).decode("ascii")
    return {
        "rows": listed,
        "left_out": int(more or 0),
        "filename": f"evidence-{_safe_name(vendor_id)}.csv",
        "href": f"data:text/csv;charset=utf-8;base64,{payload}",
    }


def _safe_name(vendor_id: str) -> str:
    """A file name from a vendor ID: letters, digits, dots and dashes; anything else a dash."""
    return "".join(c if c.isascii() and (c.isalnum() or c in ".-") else "-" for c in vendor_id)


def claim_text(view: dict[str, Any]) -> str | None:
    """The recommendation that replaces "check the SLA credit clause" for a vendor with a contract."""
    totals: CreditTotals = view["year_totals"]
    if totals.unclaimed <= 0:
        return None
    year = view["year"]
    count = totals.unclaimed_levels
    noun = "credit" if count == 1 else "credits"
    return (
        f"Claim {count} unclaimed service {noun}: {year['unclaimed']} owed under the contract "
        f"for {view['spans']['year']} (due {year['due']}, credited {year['credited']})."
    )
