"""A believable BPO world for the demo and the benchmarks, reproducible from its seed.

Six quarters up to the `through` day, with stories in them: Bangalore's IT
service desk slips (and misses its contract's on-time level month after
month, invoicing only part of the credits it owes), Manila's contact centre
improves on every service level while its customers grow less satisfied (CSAT and
first-contact resolution, columns beyond the canonical ones, scored as declared KPIs), Wisła's payroll has one late month (and earns its credit back), Hudson's legal review is
excellent but dearer than in-house, Pune is cheap but error-prone. In-house
teams do customer support, payroll and IT service desk work. A sprinkling of
bad rows exercises every stage of validation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    func,
    insert,
    inspect,
    select,
)

from scorecard.errors import ConfigError
from scorecard.schema import TABLES, create_tables, metadata

PRIORITIES = np.array(["urgent", "high", "normal", "low"])
PRIORITY_WEIGHTS = [0.05, 0.20, 0.60, 0.15]
TARGET_HOURS = np.array([1.0, 4.0, 24.0, 72.0])
_BATCH = 20_000


@dataclass(frozen=True)
class Vendor:
    vendor_id: str
    name: str
    sourcing: str
    country: str
    currency: str
    manager_email: str | None
    contract_start: dt.date | None


@dataclass(frozen=True)
class Line:
    """One vendor doing one process, with its story as (start, end) trajectories."""

    vendor_id: str
    process: str
    items_per_day: float
    units_mean: float
    qa_share: float
    defect_rate: tuple[float, float]
    on_time: tuple[float, float]
    sla_hours: float
    rework: float
    requests_per_day: float
    response_ok: tuple[float, float]
    price_per_unit: float | None
    """In the vendor's currency; None for an in-house team with no cost allocation."""
    credit_below_on_time: float | None = None
    """Service credits (5 % of the fee) in months whose on-time rate falls below this."""
    bad_month: int | None = None
    """One month (counted from the first, 0) whose on-time rate drops by 20 points."""
    survey: tuple[tuple[float, float], tuple[float, float]] | None = None
    """A contact centre's export: the share of surveyed contacts rating 4 or 5 of 5, and the
    share resolved in one contact, as trajectories; None: no such columns (null)."""


# Columns of the demo's work items beyond the canonical ones (contract section 10): the
# satisfaction score (1-5) of the surveyed contacts and the number of contacts an item took.
EXTRA_WORK_ITEM_COLUMNS = {"csat": "INTEGER", "contacts": "INTEGER"}
SURVEY_SHARE = 0.35
"""The share of completed contacts whose customer answered the survey."""


# One row per vendor and per line: easier to read as a table than formatted.
# fmt: off
VENDORS = [
    Vendor("V-PH-MNL", "Manila Bay Contact Solutions", "offshore", "PH", "PHP", "cx-vendors@example.com", dt.date(2023, 4, 1)),
    Vendor("V-PL-WAW", "Wisła Payroll Services sp. z o.o.", "nearshore", "PL", "PLN", "payroll-lead@example.com", dt.date(2022, 1, 1)),
    Vendor("V-IN-BLR", "Bangalore ServiceDesk Pvt Ltd", "offshore", "IN", "INR", "it-vendors@example.com", dt.date(2023, 7, 1)),
    Vendor("V-US-NYC", "Hudson Legal Process LLC", "onshore", "US", "USD", "legal-ops@example.com", dt.date(2024, 1, 1)),
    Vendor("V-RO-CLJ", "Carpathia Data Services SRL", "nearshore", "RO", "RON", "data-ops@example.com", dt.date(2024, 3, 1)),
    Vendor("V-MX-MTY", "Monterrey Nearshore Support S.A.", "nearshore", "MX", "MXN", "cx-vendors@example.com", dt.date(2024, 6, 1)),
    Vendor("V-ZA-CPT", "Cape Research Partners", "offshore", "ZA", "ZAR", None, dt.date(2025, 1, 1)),
    Vendor("V-GB-LON", "Thames Travel Operations Ltd", "onshore", "GB", "GBP", "travel-desk@example.com", dt.date(2023, 1, 1)),
    Vendor("V-IN-PNQ", "Pune Data Works", "offshore", "IN", "INR", "data-ops@example.com", dt.date(2024, 9, 1)),
    Vendor("IH-CS-DUB", "Customer Care (in-house, Dublin)", "in_house", "IE", "EUR", "cx-lead@example.com", None),
    Vendor("IH-PAY", "Payroll Office (in-house)", "in_house", "IE", "EUR", "payroll-lead@example.com", None),
    Vendor("IH-IT", "IT Service Desk (in-house)", "in_house", "IE", "EUR", "it-lead@example.com", None),
]

LINES = [
    Line("V-PH-MNL", "customer_support", 60, 1.0, 0.30, (0.030, 0.004), (0.86, 0.975), 24, 0.03, 3.0, (0.78, 0.96), 340.0, 0.90,
         survey=((0.90, 0.66), (0.82, 0.70))),
    Line("V-MX-MTY", "customer_support", 25, 1.0, 0.30, (0.010, 0.011), (0.93, 0.93), 24, 0.03, 1.5, (0.70, 0.66), 150.0,
         survey=((0.84, 0.85), (0.76, 0.77))),
    Line("IH-CS-DUB", "customer_support", 18, 1.0, 0.40, (0.006, 0.006), (0.95, 0.95), 24, 0.02, 1.0, (0.92, 0.92), 10.5,
         survey=((0.88, 0.88), (0.80, 0.80))),
    Line("V-PL-WAW", "payroll", 6, 180.0, 0.20, (0.002, 0.002), (0.99, 0.99), 72, 0.01, 0.6, (0.95, 0.96), 18.0, None, 12),
    Line("IH-PAY", "payroll", 2, 150.0, 0.25, (0.004, 0.004), (0.97, 0.97), 72, 0.02, 0.3, (0.90, 0.90), None),
    Line("V-IN-BLR", "it_service_desk", 40, 1.0, 0.25, (0.004, 0.030), (0.97, 0.74), 8, 0.03, 2.0, (0.93, 0.72), 1100.0, 0.90),
    Line("IH-IT", "it_service_desk", 12, 1.0, 0.30, (0.008, 0.008), (0.92, 0.92), 8, 0.03, 0.8, (0.88, 0.88), 26.0),
    Line("V-US-NYC", "legal_review", 4, 40.0, 0.50, (0.002, 0.002), (0.98, 0.985), 96, 0.01, 0.4, (0.96, 0.97), 4.6),
    Line("V-RO-CLJ", "data_entry", 30, 25.0, 0.15, (0.006, 0.005), (0.95, 0.96), 48, 0.02, 0.5, (0.86, 0.88), 1.2),
    Line("V-IN-PNQ", "data_entry", 35, 25.0, 0.15, (0.040, 0.036), (0.90, 0.91), 48, 0.06, 0.5, (0.80, 0.82), 6.0),
    Line("V-IN-PNQ", "research", 2, 3.0, 0.60, (0.020, 0.018), (0.88, 0.90), 120, 0.05, 0.2, (0.80, 0.80), 1500.0),
    Line("V-ZA-CPT", "research", 1.2, 3.0, 0.70, (0.010, 0.008), (0.93, 0.95), 120, 0.02, 0.2, (0.85, 0.88), 780.0),
    Line("V-GB-LON", "travel", 14, 1.0, 0.20, (0.006, 0.006), (0.95, 0.94), 12, 0.02, 0.7, (0.90, 0.91), 11.0),
]

# One-off charges whose service period crosses a quarter boundary (onboarding, migrations).
ONE_OFFS = [("V-IN-PNQ", "data_entry", 450_000.0, 75), ("V-MX-MTY", "customer_support", 120_000.0, 60)]
# fmt: on


def demo_start(through: dt.date) -> dt.date:
    """First day of the quarter five quarters before the one holding `through`: six quarters."""
    quarter_start_month = 3 * ((through.month - 1) // 3) + 1
    month_index = through.year * 12 + quarter_start_month - 1 - 15
    return dt.date(month_index // 12, month_index % 12 + 1, 1)


def _trajectory(span: tuple[float, float], progress: np.ndarray) -> np.ndarray:
    return span[0] + (span[1] - span[0]) * progress


def _timestamps(epoch: dt.datetime, hours: np.ndarray) -> np.ndarray:
    # Whole seconds: every database stores them the same way.
    seconds = np.round(hours * 3600).astype("int64")
    return (np.datetime64(epoch, "s") + seconds.astype("timedelta64[s]")).astype("datetime64[us]")


def _months(start: dt.date, through: dt.date) -> Iterator[tuple[dt.date, dt.date]]:
    first = start
    while first <= through:
        following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        yield first, min(following - dt.timedelta(days=1), through)
        first = following


def _ids(prefix: str, first: int, count: int) -> pl.Series:
    numbers = pl.Series(np.arange(first, first + count)).cast(pl.String).str.zfill(8)
    return pl.select(pl.concat_str(pl.lit(f"{prefix}-"), numbers)).to_series()


@dataclass
class _LineState:
    """What one line carries from month to month: ID counters and the units billed per month."""

    items: int = 0
    requests: int = 0
    billed_units: np.ndarray | None = None
    on_time_sum: np.ndarray | None = None
    due_count: np.ndarray | None = None


def _line_months(
    line: Line,
    line_no: int,
    start: dt.date,
    through: dt.date,
    scale: float,
    rng: np.random.Generator,
    state: _LineState,
    survey_rng: np.random.Generator,
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """One line's work items and requests, a month at a time, so memory stays flat at any scale.

    survey_rng: the satisfaction and contact counts draw from a generator of their own, so the
    rest of the world is the same with or without them.
    """
    days = (through - start).days + 1
    epoch = dt.datetime.combine(start, dt.time())
    cutoff_hours = days * 24.0
    months = list(_months(start, through))
    month_of_day = np.concatenate(
        [np.full((last - first).days + 1, m) for m, (first, last) in enumerate(months)]
    )
    state.billed_units = np.zeros(len(months), dtype="int64")
    state.on_time_sum = np.zeros(len(months))
    state.due_count = np.zeros(len(months))
    for first, last in months:
        day_index = np.arange((first - start).days, (last - start).days + 1)
        weekday = np.array([(start + dt.timedelta(days=int(d))).weekday() for d in day_index])
        weekday_factor = np.where(weekday < 5, 1.0, 0.25)
        per_day = rng.poisson(line.items_per_day * scale * weekday_factor)
        item_day = np.repeat(day_index, per_day)
        n = item_day.size
        progress = item_day / max(days - 1, 1)
        received = item_day * 24.0 + rng.uniform(0, 24, n)
        slip = 0.2 if line.bad_month is not None and months[line.bad_month][0] == first else 0.0
        on_time = rng.random(n) < _trajectory(line.on_time, progress) - slip
        turnaround = np.where(
            on_time,
            line.sla_hours * rng.uniform(0.15, 0.97, n),
            line.sla_hours * rng.uniform(1.05, 2.6, n),
        )
        completed = received + turnaround
        units = 1 + rng.poisson(max(line.units_mean - 1, 0), n)
        qa_checked = rng.binomial(units, line.qa_share)
        defects = rng.binomial(qa_checked, np.clip(_trajectory(line.defect_rate, progress), 0, 1))
        reworked = rng.random(n) < np.where(defects > 0, 0.45, line.rework)
        done = completed < cutoff_hours
        # Fees bill the units completed in each month (by completion day).
        completed_month = month_of_day[np.minimum(np.floor(completed / 24).astype(int), days - 1)]
        np.add.at(state.billed_units, completed_month[done], units[done])
        received_month = month_of_day[item_day]
        np.add.at(state.on_time_sum, received_month, on_time)
        np.add.at(state.due_count, received_month, 1)
        items = pl.DataFrame(
            {
                "work_item_id": _ids(f"W{line_no:02d}", state.items, n),
                "vendor_id": pl.Series([line.vendor_id] * n, dtype=pl.String),
                "process": pl.Series([line.process] * n, dtype=pl.String),
                "received_at": _timestamps(epoch, received),
                "due_at": _timestamps(epoch, received + line.sla_hours),
                "completed_at": pl.Series(_timestamps(epoch, completed)).set(
                    pl.Series(~done), None
                ),
                "units": units.astype("int64"),
                "qa_checked_units": qa_checked.astype("int64"),
                "defects": defects.astype("int64"),
                "reworked": reworked,
            }
        )
        items = items.with_columns(**_survey(line, progress, done, survey_rng))
        state.items += n

        per_day_requests = rng.poisson(line.requests_per_day * scale * weekday_factor)
        request_day = np.repeat(day_index, per_day_requests)
        k = request_day.size
        priority_index = rng.choice(4, size=k, p=PRIORITY_WEIGHTS)
        target = TARGET_HOURS[priority_index]
        opened = request_day * 24.0 + rng.uniform(0, 24, k)
        ok = rng.random(k) < _trajectory(line.response_ok, request_day / max(days - 1, 1))
        response = np.where(
            ok, target * rng.uniform(0.05, 0.95, k), target * rng.uniform(1.1, 4.0, k)
        )
        unanswered = rng.random(k) < 0.02
        resolved = opened + response + rng.exponential(target * 3)
        requests = pl.DataFrame(
            {
                "request_id": _ids(f"R{line_no:02d}", state.requests, k),
                "vendor_id": pl.Series([line.vendor_id] * k, dtype=pl.String),
                "process": pl.Series([line.process] * k, dtype=pl.String),
                "priority": PRIORITIES[priority_index],
                "opened_at": _timestamps(epoch, opened),
                "first_response_at": pl.Series(_timestamps(epoch, opened + response)).set(
                    pl.Series(unanswered | (opened + response >= cutoff_hours)), None
                ),
                "resolved_at": pl.Series(_timestamps(epoch, resolved)).set(
                    pl.Series(unanswered | (resolved >= cutoff_hours)), None
                ),
            }
        )
        state.requests += k
        yield items, requests


def _survey(
    line: Line, progress: np.ndarray, done: np.ndarray, rng: np.random.Generator
) -> dict[str, pl.Series]:
    """csat (1-5, for the completed contacts whose customer answered) and contacts (per item)."""
    n = progress.size
    if line.survey is None:
        return {
            name: pl.Series(name, [None] * n, dtype=pl.Int64) for name in EXTRA_WORK_ITEM_COLUMNS
        }
    top2_share, first_contact_share = line.survey
    answered = done & (rng.random(n) < SURVEY_SHARE)
    top2 = rng.random(n) < _trajectory(top2_share, progress)
    csat = np.where(top2, rng.choice([4, 5], size=n, p=[0.45, 0.55]), rng.choice([1, 2, 3], size=n))
    one_contact = rng.random(n) < _trajectory(first_contact_share, progress)
    contacts = np.where(one_contact, 1, 2 + rng.poisson(0.6, n))
    return {
        "csat": pl.Series("csat", csat.astype("int64")).set(pl.Series(~answered), None),
        "contacts": pl.Series("contacts", contacts.astype("int64")),
    }


def _line_charges(
    line: Line, line_no: int, start: dt.date, through: dt.date, state: _LineState
) -> list[dict]:
    """Monthly fees for the units completed, and a service credit in months below the SLA."""
    if line.price_per_unit is None:
        return []
    assert state.billed_units is not None and state.on_time_sum is not None
    assert state.due_count is not None
    # A vendor cloned by `scaled_world` bills like the one it was cloned from (its ID's prefix).
    currency = next(v.currency for v in VENDORS if line.vendor_id.startswith(v.vendor_id))
    rows: list[dict] = []
    for m, (first, last) in enumerate(_months(start, through)):
        billed_units = int(state.billed_units[m])
        if billed_units == 0:
            continue
        fee = round(billed_units * line.price_per_unit, 2)
        common = {
            "vendor_id": line.vendor_id,
            "process": line.process,
            "service_start": first,
            "service_end": last,
            "currency": currency,
        }
        rows.append(
            {**common, "charge_id": f"C{line_no:02d}-{m:03d}-F", "amount": fee, "kind": "fee"}
        )
        missed_sla = (
            line.credit_below_on_time is not None
            and state.due_count[m] > 0
            and state.on_time_sum[m] / state.due_count[m] < line.credit_below_on_time
        )
        if missed_sla:
            rows.append(
                {
                    **common,
                    "charge_id": f"C{line_no:02d}-{m:03d}-SC",
                    "amount": round(-0.05 * fee, 2),
                    "kind": "service_credit",
                }
            )
    return rows


def _bad_rows(start: dt.date) -> dict[str, list[dict]]:
    """A few rows that break the contract's rules, as real exports do."""
    t0 = dt.datetime.combine(start, dt.time(9)) + dt.timedelta(days=200)
    item = {
        "vendor_id": "V-IN-PNQ",
        "process": "data_entry",
        "received_at": t0,
        "due_at": t0 + dt.timedelta(hours=48),
        "completed_at": t0 + dt.timedelta(hours=20),
        "units": 25,
        "qa_checked_units": 5,
        "defects": 0,
        "reworked": False,
    }
    bad_items = [
        {**item, "work_item_id": "BAD-W-001", "defects": 9},  # more defects than checked units
        {**item, "work_item_id": "BAD-W-002", "due_at": t0 - dt.timedelta(hours=5)},
        {**item, "work_item_id": "BAD-W-003", "vendor_id": "V-UNKNOWN"},
        {**item, "work_item_id": "BAD-W-004", "units": 0, "qa_checked_units": 0},
        {
            **item,
            "work_item_id": "BAD-W-005",
            "vendor_id": "V-PH-MNL",
            "process": "customer_support",
            "completed_at": t0 - dt.timedelta(hours=1),
        },
        {
            **item,
            "work_item_id": "BAD-W-006",
            "vendor_id": "V-IN-BLR",
            "process": "it_service_desk",
            "received_at": None,
        },
    ]
    request = {
        "vendor_id": "V-IN-BLR",
        "process": "it_service_desk",
        "priority": "high",
        "opened_at": t0,
        "first_response_at": t0 + dt.timedelta(hours=2),
        "resolved_at": None,
    }
    bad_requests = [
        {**request, "request_id": "BAD-R-001", "priority": "P1"},
        {**request, "request_id": "BAD-R-002", "first_response_at": t0 - dt.timedelta(hours=2)},
    ]
    charge = {
        "vendor_id": "V-GB-LON",
        "process": "travel",
        "service_start": t0.date(),
        "service_end": t0.date() + dt.timedelta(days=27),
        "currency": "GBP",
        "kind": "fee",
        "amount": 100.0,
    }
    bad_charges = [
        {**charge, "charge_id": "BAD-C-001", "currency": "CHF", "amount": 2400.0},
        {**charge, "charge_id": "BAD-C-002", "amount": -350.0},  # a negative fee
        {**charge, "charge_id": "BAD-C-003", "service_end": t0.date() - dt.timedelta(days=9)},
    ]
    return {"work_items": bad_items, "requests": bad_requests, "charges": bad_charges}


# The demo's work items as inserted: the canonical columns and the extra ones.
_WORK_ITEMS = Table(
    "work_items",
    MetaData(),
    *[Column(c.name, c.type) for c in TABLES["work_items"].columns],
    *[Column(name, Integer) for name in EXTRA_WORK_ITEM_COLUMNS],
)


def _insert(connection: Connection, table_name: str, rows: list[dict]) -> None:
    table = _WORK_ITEMS if table_name == "work_items" else metadata.tables[table_name]
    for offset in range(0, len(rows), _BATCH):
        connection.execute(insert(table), rows[offset : offset + _BATCH])


def _bulk_insert(connection: Connection, table_name: str, frame: pl.DataFrame) -> None:
    """Many rows at once: PostgreSQL's COPY where the driver has it, else batched INSERTs."""
    if frame.is_empty():
        return
    driver_connection = connection.connection.driver_connection
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        columns = ", ".join(frame.columns)
        statement = f"COPY {table_name} ({columns}) FROM STDIN (FORMAT csv)"
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for offset in range(0, frame.height, _BATCH * 5):
                chunk = frame.slice(offset, _BATCH * 5)
                copy.write(
                    chunk.write_csv(include_header=False, datetime_format="%Y-%m-%d %H:%M:%S")
                )
        return
    if connection.dialect.name == "duckdb":
        _duckdb_insert(connection, table_name, frame)
        return
    _insert(connection, table_name, frame.to_dicts())


def _duckdb_insert(connection: Connection, table_name: str, frame: pl.DataFrame) -> None:
    """DuckDB reads the rows from a Parquet file: through executemany it inserts one row at a
    time, and a 1M-item world (bench/run.py makes those) took over 5 minutes instead of 11 s."""
    with tempfile.TemporaryDirectory(prefix="scorecard-demo-") as folder:
        path = Path(folder) / f"{table_name}.parquet"
        frame.write_parquet(path)
        columns = ", ".join(frame.columns)
        connection.exec_driver_sql(
            f"INSERT INTO {table_name} ({columns}) SELECT {columns} FROM read_parquet($1)",
            (str(path),),
        )


def _holds_rows(engine: Engine) -> list[str]:
    existing = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        return [
            name
            for name, table in TABLES.items()
            if name in existing
            and connection.execute(select(func.count()).select_from(table)).scalar()
        ]


def scaled_world(outsourced: int) -> tuple[list[Vendor], list[Line]]:
    """The in-house teams and `outsourced` vendors cloned in turn from the demo's nine.

    For benchmarks and layout tests at 10, 100 or 1,000 vendors: each clone
    keeps its model's story and lines, under its own ID and name.
    """
    models = [v for v in VENDORS if v.sourcing != "in_house"]
    vendors = [v for v in VENDORS if v.sourcing == "in_house"]
    lines = [line for line in LINES if line.vendor_id in {v.vendor_id for v in vendors}]
    for k in range(outsourced):
        model = models[k % len(models)]
        clone_id = f"{model.vendor_id}-{k:04d}"
        vendors.append(dataclasses.replace(model, vendor_id=clone_id, name=f"{model.name} {k:04d}"))
        lines += [
            dataclasses.replace(line, vendor_id=clone_id)
            for line in LINES
            if line.vendor_id == model.vendor_id
        ]
    return vendors, lines


def generate_demo_data(
    engine: Engine,
    through: dt.date,
    scale: float = 1.0,
    seed: int = 7,
    replace: bool = False,
    vendors: int | None = None,
) -> dict[str, int]:
    """Fill the canonical tables with demo data; returns rows per table.

    Never overwrites data by accident: tables that already hold rows are only
    dropped and recreated with `replace=True`. `vendors`: that many outsourced
    vendors cloned from the demo's nine (see `scaled_world`) instead of the nine.
    """
    world, world_lines = (VENDORS, LINES) if vendors is None else scaled_world(vendors)
    filled = _holds_rows(engine)
    if filled and not replace:
        raise ConfigError(
            f"the database already holds rows in {', '.join(filled)}; demo-data only fills "
            "empty tables (pass --replace to drop and recreate the canonical tables)"
        )
    if replace:
        metadata.drop_all(engine)
    create_tables(engine)
    with engine.begin() as connection:
        for name, sql_type in EXTRA_WORK_ITEM_COLUMNS.items():
            connection.exec_driver_sql(f"ALTER TABLE work_items ADD COLUMN {name} {sql_type}")
    start = demo_start(through)
    rng = np.random.default_rng(seed)
    counts = {"vendors": 0, "work_items": 0, "requests": 0, "charges": 0}
    with engine.begin() as connection:
        _insert(connection, "vendors", [v.__dict__ | {"contract_end": None} for v in world])
    counts["vendors"] = len(world)
    for line_no, line in enumerate(world_lines, start=1):
        state = _LineState()
        survey_rng = np.random.default_rng([seed, line_no])
        months = _line_months(line, line_no, start, through, scale, rng, state, survey_rng)
        for items, requests in months:
            # A transaction per month: a big scale never holds one huge transaction open.
            with engine.begin() as connection:
                _bulk_insert(connection, "work_items", items)
                _bulk_insert(connection, "requests", requests)
            counts["work_items"] += items.height
            counts["requests"] += requests.height
        charges = _line_charges(line, line_no, start, through, state)
        with engine.begin() as connection:
            _insert(connection, "charges", charges)
        counts["charges"] += len(charges)
    one_offs = []
    for n, (vendor_id, process, amount, days) in enumerate(ONE_OFFS, start=1):
        if vendor_id not in {v.vendor_id for v in world}:
            continue  # a scaled world's vendors are clones under other IDs
        currency = next(v.currency for v in VENDORS if v.vendor_id == vendor_id)
        begin = demo_start(through) + dt.timedelta(days=150 + 40 * n)
        one_offs.append(
            {
                "charge_id": f"C-ONEOFF-{n}",
                "vendor_id": vendor_id,
                "process": process,
                "service_start": begin,
                "service_end": begin + dt.timedelta(days=days - 1),
                "amount": amount,
                "currency": currency,
                "kind": "one_off",
            }
        )
    with engine.begin() as connection:
        _insert(connection, "charges", one_offs)
        counts["charges"] += len(one_offs)
        for name, rows in _bad_rows(start).items():
            _insert(connection, name, rows)
            counts[name] += len(rows)
    if engine.dialect.name == "postgresql":
        # Fresh statistics after a bulk load, as autovacuum would make them a little later:
        # a database in use has them, and the planner needs them.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    return counts
