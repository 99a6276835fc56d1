"""The view models of the emails, taken from the reports' own view models, and their bodies.

The email is what most readers read: it carries the cover's figures, the
standings and the real movers of the portfolio pack, and the headline of each
scorecard. Everything is picked from the models that build_portfolio and
build_vendor already made (never recomputed), so the email and the attachment
cannot disagree. The HTML alternative renders through the reports' single jinja
Environment; the plain-text alternative is written from the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reports.view import DASH, ReportContext

STANDINGS = ("excellent", "good", "watch", "critical")


@dataclass(frozen=True)
class Notice:
    """Why the attachment is not in the message, and where the reader finds the file."""

    reason: str
    where: str
    """A URL under email.link_base, a path in the output folder, or "" (ask by reply)."""
    is_link: bool


@dataclass(frozen=True)
class EmailBody:
    text: str
    html: str


def _figure(label: str, value: str, tone: str = "", detail: str = "") -> dict[str, str]:
    return {"label": label, "value": value, "tone": tone, "detail": detail}


def portfolio_email(
    portfolio: dict[str, Any], ctx: ReportContext, notice: Notice | None
) -> dict[str, Any]:
    """The portfolio email from build_portfolio's model: cover figures, standings, movers."""
    summary = portfolio["summary"]
    figures = [_figure("Vendors scored", f"{summary['scored']} of {summary['vendors']}")]
    # Spend and savings rest on charges: when nothing billed was measured, say nothing (not 0).
    if summary["total_spend"] != DASH:
        figures.append(_figure("Outsourced spend this period", summary["total_spend"]))
        if summary["total_savings"] != DASH:
            negative = summary["savings_negative"]
            figures.append(
                _figure(
                    "Lost against in-house" if negative else "Saved against in-house",
                    summary["total_savings"],
                    "negative" if negative else "positive",
                )
            )
    credits = portfolio["credits"]
    if credits is not None:
        year = credits["year"]
        figures.append(
            _figure(
                f"Service credits unclaimed, {credits['spans']['year']}",
                year["unclaimed"],
                "negative" if year["unclaimed_value"] else "",
                f"due {year['due']}, credited {year['credited']}",
            )
        )
    return {
        "kind": "portfolio",
        "ctx": ctx,
        "heading": f"Vendor performance review {ctx.period_label}",
        "figures": figures,
        "standings": [{"standing": s, "names": summary[s]} for s in STANDINGS],
        "unranked": summary["unranked"],
        "movers": summary["movers"],
        "notice": notice,
        "attachment_name": "review pack",
    }


def _rank_text(headline: dict[str, Any], is_in_house: bool) -> str:
    rank = headline["rank"]
    if is_in_house:
        return "not ranked: the in-house baseline"
    if rank == DASH:
        # Scored on too few items to rank (contract section 4), or not scored at all.
        note = headline.get("rank_note")
        return f"unranked: {note}" if note else "not ranked: not scored this period"
    return f"rank {rank}"


def _change_text(headline: dict[str, Any]) -> str:
    if headline["change"] == DASH:
        return "no comparison: not scored in both periods"
    # The scorecard's own note: internal and vendor-facing say what each one tested.
    return f"{headline['change']} points since last period ({headline['change_note']})"


def vendor_email(
    vendor: dict[str, Any], ctx: ReportContext, current_months: Sequence[str], notice: Notice | None
) -> dict[str, Any]:
    """A vendor's email from build_vendor's model (internal or vendor-facing).

    The vendor-facing model has no recommendations, costs or peers' names, so
    this cannot show them; the recommendation is taken only from the internal one.
    """
    headline = vendor["headline"]
    internal = vendor["internal"]
    recommendations = vendor.get("recommendations", []) if internal else []
    contract = vendor["contract"]
    missed = (
        [
            level
            for level in contract["levels"]
            if level["missed"] and level["month"][:7] in current_months
        ]
        if contract is not None
        else []
    )
    early = headline.get("early", "")
    return {
        "kind": "vendor",
        "ctx": ctx,
        "internal": internal,
        "heading": f"{vendor['vendor']['name']}: scorecard {ctx.period_label}",
        "name": vendor["vendor"]["name"],
        # The first days of a period: the headline is the last period's, named so.
        "early": f"{ctx.period_label}: {early}; no standing, rank or change is claimed yet"
        if early
        else "",
        "headline_period": headline["period"] if early else "",
        "composite": headline["composite"],
        "standing": headline["standing"],
        "rank": _rank_text(headline, vendor["vendor"]["is_in_house"]),
        "change": "" if early else _change_text(headline),
        "change_class": headline["change_class"],
        "dimensions": [
            {
                "title": d.title,
                "score": "not scored" if d.score == DASH else f"score {d.score}",
                "kpi": d.kpi,
            }
            for d in vendor["dimensions"]
        ],
        "recommendation": recommendations[0].text if recommendations else None,
        "has_contract": contract is not None,
        "missed": missed,
        "notice": notice,
        "attachment_name": "scorecard",
    }


def _notice_text(model: dict[str, Any]) -> str:
    notice: Notice | None = model["notice"]
    if notice is None:
        return f"The full {model['attachment_name']} is attached (PDF)."
    where = (
        f"It is at {notice.where}"
        if notice.where
        else "Reply to this email to receive it another way"
    )
    return f"The {model['attachment_name']} is not attached: {notice.reason}. {where}."


def _opening(model: dict[str, Any]) -> list[str]:
    ctx: ReportContext = model["ctx"]
    return [
        model["heading"],
        f"Period {ctx.period_label} ({ctx.period_range}). {ctx.generated}.",
        "",
    ]


def portfolio_text(model: dict[str, Any]) -> str:
    lines = [
        *_opening(model),
        *(
            f"{f['label']}: {f['value']}" + (f" ({f['detail']})" if f["detail"] else "")
            for f in model["figures"]
        ),
        "",
        "Standings",
        *(f"  {s['standing'].capitalize()}: {s['names']}" for s in model["standings"]),
    ]
    if model["unranked"]:
        lines.append(f"  ({model['unranked']} with too few items to rank: see the pack)")
    lines += ["", "Significant movers since last period"]
    if model["movers"]:
        lines += [
            f"  {m['name']}: {m['direction']}, {m['change']} points, now {m['standing']}"
            for m in model["movers"]
        ]
    else:
        lines.append("  None: no change in a composite passed the significance test.")
    lines += ["", _notice_text(model), ""]
    return "\n".join(lines)


def vendor_text(model: dict[str, Any]) -> str:
    if model["early"]:
        last = model["headline_period"]
        headline = (
            f"Last period, {last}: composite {model['composite']} / 100, standing "
            f"{model['standing']}, {model['rank']}"
        )
        lines = [
            *_opening(model),
            model["early"] + ".",
            *([headline] if last else []),
            "So far this period:",
            *(f"  {d['title']}: {d['score']} ({d['kpi']})" for d in model["dimensions"]),
        ]
    else:
        lines = [
            *_opening(model),
            f"Composite: {model['composite']} / 100, standing {model['standing']}, {model['rank']}",
            f"Change: {model['change']}",
            *(f"  {d['title']}: {d['score']} ({d['kpi']})" for d in model["dimensions"]),
        ]
    if model["recommendation"]:
        lines += ["", f"Top recommendation: {model['recommendation']}"]
    if model["has_contract"]:
        lines += ["", "Service levels missed this period"]
        lines += [
            f"  {m['month']}: {m['level']} ({m['process']}), {m['actual']} against "
            f"{m['threshold']}; credit {m['credit']}, {m['status_title']}"
            for m in model["missed"]
        ] or ["  None."]
    lines += ["", _notice_text(model), ""]
    return "\n".join(lines)


def email_body(environment: Any, model: dict[str, Any]) -> EmailBody:
    """Both alternatives of one email; the HTML through the reports' jinja Environment."""
    portfolio = model["kind"] == "portfolio"
    text = portfolio_text(model) if portfolio else vendor_text(model)
    template = "email_portfolio.html" if portfolio else "email_vendor.html"
    html = environment.get_template(template).render(notice_text=_notice_text(model), **model)
    return EmailBody(text=text, html=html)
