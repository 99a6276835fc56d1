"""The ledger of published runs (contract section 11): OUT/ledger.jsonl, one JSON line per
whole run that was published, appended and flushed to disk, never rewritten.

Each line says which day the run was as of, the method it scored with (a digest of the config
that changes scores, and that config itself, to say what changed), the periods it closed with
the composite, standing and rank it published for each vendor, and what the night's messages
are decided from: each vendor's standing and work items in the current period, its
special-cause signals, its credits due, a fingerprint of its figures and what was sent.

From the ledger the run learns: which periods are closed and what was published for them
("restated" when a later run computes them differently), whether this run is a backfill,
which messages the night owes (`plan_messages`), and which run folders retention keeps.
Retention deletes run folders and journals, never a ledger line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from reports.build import contract_ended
from reports.view import document_key
from scorecard.config import Config
from scorecard.errors import OutputError
from scoring.periods import Period, periods_for

LEDGER_NAME = "ledger.jsonl"
ALL = "ALL"
PORTFOLIO = ""
"""The key of the portfolio pack among the per-vendor keys of a ledger line."""

_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.earlier-\d+)?$")
_JOURNAL = re.compile(r"^(\d{4}-\d{2}-\d{2})\.emails\.jsonl$")


def method_config(config: Config) -> dict[str, Any]:
    """The config that changes scores: targets, floors, weights, bands, KPIs, cost model,
    contracts (and the exchange rates the money is converted with)."""
    data = config.model_dump(mode="json")
    keys = ("scoring", "response_targets_hours", "in_house", "contracts", "currency", "kpis")
    return {key: data[key] for key in keys if key in data}


def method_digest(method: Mapping[str, Any]) -> str:
    text = json.dumps(method, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def method_changes(before: Mapping[str, Any], after: Mapping[str, Any], limit: int = 3) -> str:
    """What changed between two methods, as readers name the keys: "scoring.weights.cost 25 -> 40"."""
    old, new = _flat(before), _flat(after)
    changed = [
        f"{key} {_shown(old.get(key))} -> {_shown(new.get(key))}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    more = f" and {len(changed) - limit} more" if len(changed) > limit else ""
    return "; ".join(changed[:limit]) + more


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat |= _flat(inner, f"{prefix}.{key}" if prefix else str(key))
        return flat
    return {prefix: value}


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def closed_periods(periods: Sequence[Period], config: Config) -> list[Period]:
    """The run's periods that are over at its as-of day: the history, and the current one on
    its last day (the next day starts another period)."""
    kind, fiscal = config.run.period, config.run.fiscal_year_start_month

    def over(period: Period) -> bool:
        if not period.is_current:
            return True
        following = periods_for(period.end + dt.timedelta(days=1), kind, 0, fiscal)[-1]
        return following.start != period.start

    return [p for p in periods if over(p)]


class Ledger:
    """OUT/ledger.jsonl, read once; `append` adds a line and flushes it to disk."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.path = out_dir / LEDGER_NAME
        self.lines = _read_lines(self.path)

    def append(self, line: Mapping[str, Any]) -> None:
        text = json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise OutputError(
                f"the run is published, but the ledger {self.path} cannot be written: "
                f"{exc.strerror or exc}"
            ) from None
        self.lines.append(dict(line))

    @property
    def newest_as_of(self) -> dt.date | None:
        days = [dt.date.fromisoformat(line["as_of"]) for line in self.lines]
        return max(days) if days else None

    def is_backfill(self, as_of: dt.date) -> bool:
        """An as-of day earlier than the newest published run's."""
        newest = self.newest_as_of
        return newest is not None and as_of < newest

    def published(self) -> dict[str, dict[str, Any]]:
        """Per closed period: the line that first published it (as_of, method, figures)."""
        first: dict[str, dict[str, Any]] = {}
        for line in self.lines:
            for label in line.get("closes", []):
                first.setdefault(label, line)
        return first

    def method_since(self, digest: str) -> str | None:
        """The as-of day of the first line scored with this method (when it came in)."""
        return next((line["as_of"] for line in self.lines if line.get("method") == digest), None)

    def method_config(self, digest: str) -> dict[str, Any]:
        """The config a method digest stands for (kept on the first line scored with it)."""
        return next(
            (line["method_config"] for line in self.lines
             if line.get("method") == digest and "method_config" in line),
            {},
        )  # fmt: skip

    def closing_days(self) -> list[str]:
        """The as-of days of the runs that closed a period, newest period first."""
        published = self.published()
        return [published[label]["as_of"] for label in sorted(published, reverse=True)]

    def owed(self) -> dict[str, str]:
        """Messages a night planned but could not send because their document was not rendered
        (message key -> the subject's note), as the last night that was not a backfill left them:
        the next night sends them."""
        nights = [line for line in self.lines if not line.get("backfill")]
        owed = nights[-1].get("owed", {}) if nights else {}
        return dict(owed) if isinstance(owed, dict) else {}

    def handed_over_unrecorded(self, since: dt.date, before: dt.date) -> set[str]:
        """The messages (their document keys) that nights from `since` to before `before` handed
        to a server but never recorded: a night killed while it sent has an email journal and no
        ledger line. The night after must not send them again."""
        from output.email import JOURNAL_SUFFIX, messages_handed_over

        recorded = {line["as_of"] for line in self.lines}
        handed: set[str] = set()
        for path in self.out_dir.glob(f"*{JOURNAL_SUFFIX}"):
            day = run_day(path.name.removesuffix(JOURNAL_SUFFIX))
            if day is None or day.isoformat() in recorded or not since <= day < before:
                continue
            handed |= messages_handed_over(path)
        return handed

    def last_sent(self) -> dict[str, str]:
        """Per message key (vendor ID, "" for the pack): the fingerprint last sent."""
        sent: dict[str, str] = {}
        for line in sorted(self.lines, key=lambda line: line["as_of"]):
            sent |= line.get("sent", {})
        return sent


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line; one torn by a kill or a full disk is skipped."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OutputError(f"cannot read the ledger {path}: {exc.strerror or exc}") from None
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("as_of"), str):
            lines.append(line)
    return lines


def _figures(row: Mapping[str, Any]) -> dict[str, Any]:
    composite = row["composite_score"]
    return {
        "composite": None if composite is None else round(float(composite), 1),
        "standing": row["standing"],
        "rank": row["rank"],
    }


def _totals(table: pl.DataFrame, label: str) -> list[dict[str, Any]]:
    return (
        table.filter((pl.col("process") == ALL) & (pl.col("period") == label))
        .sort("vendor_id")
        .to_dicts()
    )


def _scores(row: Mapping[str, Any]) -> dict[str, float]:
    """The scores behind a composite (each dimension's, each weighted declared KPI's), rounded
    as shown: kept with a closed period's published figures, so a restatement can say which
    moved."""
    return {
        name.removesuffix("_score"): round(float(value), 1)
        for name, value in row.items()
        if name.endswith("_score")
        and name != "composite_score"
        and not name.startswith("previous_")
        and value is not None
    }


def _moved(published: Mapping[str, float] | None, now: Mapping[str, float]) -> str:
    """ " (responsiveness 66.7 -> 70.0)": the scores that moved since publication ("" when the
    ledger line holds none: written before they were kept)."""
    if not published:
        return ""
    moved = [
        f"{name} {_score_shown(published.get(name))} -> {_score_shown(now.get(name))}"
        for name in sorted(set(published) | set(now))
        if published.get(name) != now.get(name)
    ]
    return f" ({', '.join(moved)})" if moved else ""


def _score_shown(score: float | None) -> str:
    return "not measured" if score is None else f"{score:.1f}"


@dataclass(frozen=True)
class Restatement:
    period: str
    vendor_id: str
    published: dict[str, Any]
    now: dict[str, Any]
    reason: str

    @property
    def note(self) -> str:
        return f"restated: {self.reason}"


def restatements(
    ledger: Ledger, table: pl.DataFrame, closed: Sequence[Period], method: str,
    method_now: Mapping[str, Any], as_of: dt.date,
) -> list[Restatement]:  # fmt: skip
    """Each closed period x vendor whose composite, standing or rank this run computes
    differently from what was published for it, with why."""
    published = ledger.published()
    found = []
    for period in closed:
        line = published.get(period.label)
        if line is None:
            continue
        figures = line.get("closed", {}).get(period.label, {})
        for row in _totals(table, period.label):
            before = figures.get(row["vendor_id"])
            now = _figures(row)
            if before is None or {key: before.get(key) for key in now} == now:
                continue
            if line.get("method") != method:
                since = ledger.method_since(method) or as_of.isoformat()
                what = method_changes(ledger.method_config(line.get("method", "")), method_now)
                reason = f"method changed on {since}: {what}"
            else:
                reason = (
                    f"the data for {period.label} changed since it was published on "
                    f"{line['as_of']}{_moved(before.get('scores'), _scores(row))}"
                )
            found.append(Restatement(period.label, row["vendor_id"], before, now, reason))
    return found


@dataclass(frozen=True)
class NightFacts:
    """What a run knows about each vendor tonight, as recorded in its ledger line."""

    current: str
    vendors: dict[str, dict[str, Any]]
    """vendor_id -> standing, rank, composite and items in the current period, and whether the
    composite's change from the previous period is significant (None: no previous period)."""
    signals: dict[str, list[str]]
    due: dict[str, list[str]]
    fingerprints: dict[str, str]
    ended: list[str]
    """Vendors whose contract ended before the current period and with no activity in it."""
    ended_before_previous: list[str] = field(default_factory=list)
    """The same of the previous period: a run that closes it late still writes to the others."""


def night_facts(
    table: pl.DataFrame,
    periods: Sequence[Period],
    vendors: pl.DataFrame,
    signals: Mapping[str, Sequence[str]],
    credit_levels: pl.DataFrame | None,
) -> NightFacts:
    current = periods[-1]
    rows = _totals(table, current.label)
    before = (
        {row["vendor_id"]: row for row in _totals(table, periods[-2].label)}
        if len(periods) > 1
        else {}
    )
    facts = {
        row["vendor_id"]: _figures(row)
        | {
            "items": int(row["work_items_completed"] or 0),
            "previous_items": int(
                before.get(row["vendor_id"], {}).get("work_items_completed") or 0
            ),
            # None: no previous period to test the change against (a new vendor).
            "significant": row.get("composite_change_significant"),
        }
        for row in rows
    }
    due: dict[str, list[str]] = {}
    if credit_levels is not None and not credit_levels.is_empty():
        for row in credit_levels.filter(pl.col("status") == "due").to_dicts():
            due.setdefault(row["vendor_id"], []).append(f"{row['service_level']}|{row['month']}")
    # The figures, not the day: the current period's end is the as-of day, which moves nightly.
    figures = table.drop("period_end", strict=False)
    fingerprints = {
        vendor_id: _digest(
            figures.filter(pl.col("vendor_id") == vendor_id).sort("period", "process")
        )
        for vendor_id in facts
    }
    fingerprints[PORTFOLIO] = _digest(figures.sort("vendor_id", "period", "process"))
    # The pack's own test (reports.build.contract_ended), so the vendor listed as "contract
    # ended" and the vendor sent nothing are the same.
    ended = sorted(contract_ended(vendors, {row["vendor_id"]: row for row in rows}, current.start))
    ended_before = (
        sorted(contract_ended(vendors, before, periods[-2].start)) if len(periods) > 1 else []
    )
    return NightFacts(current.label, facts, {k: sorted(v) for k, v in signals.items() if v},
                      {k: sorted(v) for k, v in due.items()}, fingerprints, ended,
                      ended_before)  # fmt: skip


def _digest(frame: pl.DataFrame) -> str:
    text = json.dumps(frame.to_dicts(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    """Which messages a night builds: the vendors' scorecards and the pack, each with a note
    for its subject ("" none)."""

    vendors: dict[str, str] = field(default_factory=dict)
    portfolio: str | None = None
    """None: no pack tonight; else the subject's note."""
    why: str = "nothing new tonight: no email"
    handed_over: frozenset[str] = frozenset()
    """Messages (delivery keys) not to send: a night stopped while it sent handed them over."""

    @property
    def empty(self) -> bool:
        return not self.vendors and self.portfolio is None

    @property
    def notes(self) -> dict[str, str]:
        """What run_messages builds: vendor ID (PORTFOLIO for the pack) -> the subject's note."""
        pack = {} if self.portfolio is None else {PORTFOLIO: self.portfolio}
        return {**self.vendors, **pack}


def plan_messages(
    ledger: Ledger,
    config: Config,
    as_of: dt.date,
    periods: Sequence[Period],
    facts: NightFacts,
    method: str,
    resend: bool,
) -> Plan:
    """Contract section 11's cadence, decided from the ledger (before this run's line)."""
    candidates = [v for v in facts.vendors if v not in facts.ended]
    if ledger.is_backfill(as_of):
        if not resend:
            return Plan(why=f"a backfill of {as_of} (newer runs are published): no email; "
                            "--resend sends it")  # fmt: skip
        note = f"as of {as_of}"
        return Plan(dict.fromkeys(candidates, note), note, "a backfill sent on request")
    if config.email.send == "nightly":
        sent = ledger.last_sent()
        vendors = {v: "" for v in candidates if resend or sent.get(v) != facts.fingerprints[v]}
        pack = resend or sent.get(PORTFOLIO) != facts.fingerprints[PORTFOLIO]
        return Plan(vendors, "" if pack else None, "nightly")
    closing = _closing_label(periods, config)
    if closing is not None:
        line = ledger.published().get(closing)
        if line is None or (line["as_of"] == as_of.isoformat() and line.get("method") == method):
            return _closing_plan(ledger, as_of, periods, facts, candidates, closing)
    alerts = night_alerts(ledger, as_of, facts, AlertRules.of(config))
    alerts = {v: what for v, what in alerts.items() if v in candidates}
    plan = _with_owed(ledger, candidates, _alert_plan(alerts))
    newest = ledger.newest_as_of
    if plan.empty or newest is None:
        return plan
    # An alert a night stopped while it sent handed over (no ledger line says so) is not sent
    # again: the news is the same.
    handed = ledger.handed_over_unrecorded(newest + dt.timedelta(days=1), as_of)
    return dataclasses.replace(plan, handed_over=frozenset(handed)) if handed else plan


def vendor_of_message(key: str) -> str | None:
    """The ledger's key (vendor ID, PORTFOLIO for the pack) of a message's delivery key
    ("scorecard-vendor 41|vendors", "scorecard-portfolio"); None for another."""
    document = key.split("|", 1)[0]
    if document == document_key(None):
        return PORTFOLIO
    prefix = document_key("")
    if not document.startswith(prefix):
        return None
    try:
        return bytes.fromhex(document.removeprefix(prefix)).decode()
    except ValueError:
        return None


def _closing_plan(
    ledger: Ledger,
    as_of: dt.date,
    periods: Sequence[Period],
    facts: NightFacts,
    candidates: Sequence[str],
    closing: str,
) -> Plan:
    """The run on a period's last day sends its final figures to every recipient. A first run,
    or one after missed nights, closes an earlier period and sends tonight's, named by its day:
    to every vendor active in that period (one whose contract ended with it too), but for the
    messages a night killed while sending handed over since the period ended."""
    if closing == periods[-1].label:
        return Plan(dict.fromkeys(candidates, ""), "", f"{closing} closes")
    note = f"as of {as_of}"
    period = next(p for p in periods if p.label == closing)
    handed = frozenset(ledger.handed_over_unrecorded(period.end, as_of))
    vendors = dict.fromkeys(
        (v for v in facts.vendors if v not in facts.ended_before_previous), note
    )
    why = f"{closing} closes"
    if handed:
        why += (
            f"; {len(handed)} of its messages went out on a night stopped while it sent (its "
            "email journal says so): not sent again"
        )
    return Plan(vendors, note, why, handed)


def _alert_plan(alerts: Mapping[str, str]) -> Plan:
    if not alerts:
        return Plan()
    named = "; ".join(f"{v}: {what}" for v, what in sorted(alerts.items()))
    pack_note = f"alert: {len(alerts)} vendor{'s' if len(alerts) > 1 else ''}"
    return Plan({v: f"alert: {what}" for v, what in alerts.items()}, pack_note, named)


def _with_owed(ledger: Ledger, candidates: Sequence[str], plan: Plan) -> Plan:
    """The plan, plus the messages an earlier night owes (their document was not rendered)."""
    owed = ledger.owed()
    vendors = {v: note for v, note in owed.items() if v != PORTFOLIO and v in candidates}
    if not vendors and PORTFOLIO not in owed:
        return plan
    pack = plan.portfolio if plan.portfolio is not None else owed.get(PORTFOLIO)
    noun = "message" if len(owed) == 1 else "messages"
    why = (
        f"{plan.why if not plan.empty else 'nothing new'}; plus {len(owed)} {noun} an earlier "
        "night owes (its document was not rendered then)"
    )
    return Plan({**vendors, **plan.vendors}, pack, why)


def _closing_label(periods: Sequence[Period], config: Config) -> str | None:
    """The newest period closed at this run's as-of day."""
    closed = closed_periods(periods, config)
    return closed[-1].label if closed else None


@dataclass(frozen=True)
class AlertRules:
    """What makes a change of standing news (`[email] alert_*`, `scoring.min_rank_items`): read
    from the config (`of`), whose defaults are the only ones."""

    min_items: int
    edges: tuple[float, float, float]
    """The composite at which excellent, good and watch begin (`scoring.standings`)."""
    margin: float
    nights: int
    share: float

    @classmethod
    def of(cls, config: Config) -> AlertRules:
        standings = config.scoring.standings
        return cls(
            config.scoring.min_rank_items,
            (standings.excellent, standings.good, standings.watch),
            config.email.alert_standing_margin,
            config.email.alert_standing_nights,
            config.email.alert_standing_share,
        )

    def band(self, standing: str) -> tuple[float, float]:
        """The composites a standing covers: [low, high)."""
        excellent, good, watch = self.edges
        return {
            "excellent": (excellent, math.inf),
            "good": (good, excellent),
            "watch": (watch, good),
            "critical": (-math.inf, watch),
        }[standing]


def night_alerts(
    ledger: Ledger, as_of: dt.date, facts: NightFacts, rules: AlertRules
) -> dict[str, str]:
    """Per vendor, what really happened (contract section 11), judged against every earlier
    night, so a figure wavering around a line alerts once, not every time it crosses:

    - a standing other than the one the vendor's recipient was last sent (see `_standing_news`);
    - a special cause in the newest month that is over, unlike any signalled before (see
      `_news` and `_known`);
    - a credit of a month that is over that became due and never was before."""
    earlier = sorted(
        (line for line in ledger.lines if line["as_of"] < as_of.isoformat()),
        key=lambda line: line["as_of"],
    )
    if not earlier:
        return {}
    alerts: dict[str, list[str]] = {}
    for vendor_id, now in facts.vendors.items():
        told = _standing_told(earlier, vendor_id, facts.current)
        if told and _standing_news(earlier, vendor_id, facts.current, told, now, rules):
            alerts.setdefault(vendor_id, []).append(f"standing {told} -> {now['standing']}")
    for kind, label in (("signals", "new special cause"), ("due", "credit now due")):
        seen: dict[str, set[str]] = {}
        for line in earlier:
            day = dt.date.fromisoformat(line["as_of"])
            for vendor_id, keys in line.get(kind, {}).items():
                seen.setdefault(vendor_id, set()).update(k for k in keys if _news(kind, k, day))
        for vendor_id, keys in getattr(facts, kind).items():
            known = seen.get(vendor_id, set())
            if any(not _known(kind, k, known) for k in keys if _news(kind, k, as_of)):
                alerts.setdefault(vendor_id, []).append(label)
    return {v: ", ".join(what) for v, what in alerts.items()}


def _standing_news(
    earlier: Sequence[Mapping[str, Any]],
    vendor_id: str,
    current: str,
    told: str,
    now: Mapping[str, Any],
    rules: AlertRules,
) -> bool:
    """A standing other than the one told is news when all of these hold:

    - tonight's period holds at least `min_items` work items, and at least `share` of the
      work items the previous period completed: a period's first weeks rest on a few days of
      data, and their standings swung across two bands and back on the demo world (a cost per
      unit with few units, a month's fees not yet invoiced);
    - its composite's change from the previous period is significant (a rate behind it
      changed beyond chance), or cannot be tested (no previous period);
    - the composite is `margin` points past the edge of the band told, so a score drifting
      across the edge on noise does not alert (on the demo world a vendor near 85 went
      excellent -> good -> excellent eight times in a quarter);
    - the new standing has held for `nights` runs in a row in this period: a one-night swing
      (a late batch of rows, a correction) is not news."""
    standing, composite = now.get("standing"), now.get("composite")
    if not standing or standing == told or composite is None:
        return False
    if now["items"] < max(rules.min_items, rules.share * now.get("previous_items", 0)):
        return False
    if now.get("significant") is False:
        return False
    low, high = rules.band(told)
    if low - rules.margin <= composite < high + rules.margin:
        return False
    before = earlier[len(earlier) - (rules.nights - 1) :] if rules.nights > 1 else []
    return len(before) == rules.nights - 1 and all(
        line.get("current") == current
        and line.get("vendors", {}).get(vendor_id, {}).get("standing") == standing
        for line in before
    )


def _month_over(as_of: dt.date) -> str:
    """The newest month over at the as-of day, as a chart labels it: "2026-09" for 2026-10-14
    and for 2026-09-30."""
    month_ends_tonight = (as_of + dt.timedelta(days=1)).day == 1
    last = as_of if month_ends_tonight else as_of.replace(day=1) - dt.timedelta(days=1)
    return f"{last:%Y-%m}"


def _news(kind: str, key: str, as_of: dt.date) -> bool:
    """Whether a signal or a credit due can be news at the as-of day.

    A special cause is news about the newest month that is over: a month in progress is a
    partial sample (on the demo world its first days crossed a limit and fell back within a
    week, month after month), and one that ended before is history (a chart's centre line moves
    as months come in, so old months cross their limits again). A credit is news once its month
    is over: until then the month can still meet its level."""
    month = key.rsplit("|", 1)[-1]
    over = _month_over(as_of)
    return month == over if kind == "signals" else month <= over


def _known(kind: str, key: str, seen: set[str]) -> bool:
    """A credit due is known by its level and month. A special cause is known when a signal of
    the same measure was seen over months that overlap or touch its own: a run that grows, or
    starts a month later as the chart's months move on, a month wavering in and out of its
    limits, a month outside the limits again the month after (on the demo world a troubled
    vendor's timeliness was outside every month of the year: one cause, not twelve), or a run
    that holds those months, is the same cause. One back inside its limits for a month or more
    and then out again is a new one."""
    if kind != "signals":
        return key in seen
    measure, _, first, last = key.split("|")
    for earlier in seen:
        m, _, f, la = earlier.split("|")
        if m == measure and f <= _next_month(last) and first <= _next_month(la):
            return True
    return False


def _next_month(label: str) -> str:
    year, month = int(label[:4]), int(label[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def _standing_told(earlier: Sequence[Mapping[str, Any]], vendor_id: str, current: str) -> Any:
    """The standing in the last message the vendor's recipient was sent; with none yet, the
    last night's standing in the same period (None: nothing to compare with)."""
    for line in reversed(earlier):
        if vendor_id in line.get("sent", {}):
            return line.get("vendors", {}).get(vendor_id, {}).get("standing")
    last = earlier[-1]
    if last.get("current") != current:
        return None
    return last.get("vendors", {}).get(vendor_id, {}).get("standing")


def ledger_line(
    as_of: dt.date,
    config: Config,
    periods: Sequence[Period],
    table: pl.DataFrame,
    facts: NightFacts,
    ledger: Ledger,
    restated: Sequence[Restatement],
    sent: Mapping[str, str],
    exit_code: int,
    owed: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """This run's line: the periods it closes (never closed before) with their figures, the
    restated figures, and the night's facts."""
    method_now = method_config(config)
    published = ledger.published()
    closes = [p.label for p in closed_periods(periods, config) if p.label not in published]
    figures = {
        label: {
            row["vendor_id"]: _figures(row) | {"scores": _scores(row)}
            for row in _totals(table, label)
        }
        for label in closes
    }
    return {
        "as_of": as_of.isoformat(),
        "recorded_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period": config.run.period,
        "method": method_digest(method_now),
        # The config itself once per method, on the first line scored with it.
        **({} if ledger.method_since(method_digest(method_now)) else {"method_config": method_now}),
        "closes": closes,
        "closed": figures,
        "restated": [
            {"period": r.period, "vendor_id": r.vendor_id, "now": r.now, "reason": r.reason}
            for r in restated
        ],
        "current": facts.current,
        "vendors": facts.vendors,
        "signals": facts.signals,
        "due": facts.due,
        "ended": facts.ended,
        "fingerprints": facts.fingerprints,
        "sent": dict(sent),
        # Planned but not sent, their document not rendered: the next night sends them.
        **({"owed": dict(owed)} if owed else {}),
        "backfill": ledger.is_backfill(as_of),
        "exit_code": exit_code,
    }


def run_day(name: str) -> dt.date | None:
    """The as-of day of a run folder the job made (`2026-09-30`, `2026-09-30.earlier-1`)."""
    match = _DAY.match(name)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def prune(
    out_dir: Path,
    ledger: Ledger,
    newest: dt.date,
    keep_days: int,
    keep_closed_periods: int,
    in_doubt: Iterable[Path] = (),
    just_made: dt.date | None = None,
) -> list[str]:
    """Delete run folders and email journals older than keep_days before the newest as-of day,
    but the runs that closed the newest keep_closed_periods periods, and journals holding a
    message in doubt, and the run just made (a backfill: the next night prunes it). Only names
    the job made; ledger lines are kept. Returns what went."""
    cutoff = newest - dt.timedelta(days=keep_days)
    closing = set(ledger.closing_days()[:keep_closed_periods])
    keep_journals = {Path(p).name for p in in_doubt}
    removed = []
    for path in sorted(out_dir.iterdir()):
        if path.is_symlink():
            continue
        journal = _JOURNAL.match(path.name)
        day = run_day(path.name) if path.is_dir() else None
        if journal and path.is_file():
            day = dt.date.fromisoformat(journal.group(1))
            if path.name in keep_journals:
                continue
        if day is None or day >= cutoff or day.isoformat() in closing or day == just_made:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path.name)
    return removed
