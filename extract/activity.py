"""The extract stage: everything the scoring needs, checked, in one read-only transaction.

Vendors and charges are small (one row per vendor, per invoice line) and are
read as rows. Work items and requests are large and arrive already summed
per vendor, process, rule and day (`summaries`). If the connection drops
mid-way, the whole extraction is retried once, so the numbers always come
from one consistent read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Subquery,
    and_,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import NullType

from extract.dialects import at, moment
from extract.evidence import (
    REQUEST_EVIDENCE_SCHEMA,
    WORK_ITEM_EVIDENCE_SCHEMA,
    EvidenceGroup,
    EvidenceRows,
    accepted,
    declared_rates,
    evidence_schema,
    groups_of,
    request_evidence_query,
    work_item_evidence_query,
)
from extract.mapping import Source, resolve_all
from extract.source import (
    ConnectionLost,
    as_datetime,
    export_snapshot,
    ids_enforced_unique,
    polars_schema,
    read_only_connection,
    read_table,
    source_engine,
    source_error,
)
from extract.summaries import (
    REPEATED_IDS_LISTED,
    Repeated,
    Window,
    completed_part,
    completed_parts,
    fenced,
    repeated_ids_query,
    request_days_query,
    request_days_schema,
    unreadable_column,
    work_item_day_keys,
    work_item_days_query,
    work_item_days_schema,
)
from extract.validate import (
    REJECTED_GROUP_SCHEMA,
    Rule,
    TableCounts,
    charge_rules,
    group_rules,
    split_rows,
    summarise_rejections,
    vendor_rules,
    with_group_rules,
)
from scorecard.config import Config, CurrencyConfig, DeclaredKpi, TableSource
from scorecard.errors import SourceError
from scorecard.urls import redact_url


@dataclass(frozen=True)
class Activity:
    """The accepted activity of one report window, and what was rejected."""

    vendors: pl.DataFrame
    """Every accepted vendor (vendors are read whole)."""
    charges: pl.DataFrame
    """Accepted charges whose service days touch the window."""
    work_item_days: pl.DataFrame
    """Accepted work items summed per vendor, process, day completed and period due."""
    request_days: pl.DataFrame
    """Accepted requests summed per vendor, process and day opened."""
    data_quality: pl.DataFrame
    """One row per table, rule and vendor: rows_rejected and a few example IDs."""
    counts: dict[str, TableCounts]
    """Rows read, accepted and rejected, per table read (absent tables have none)."""
    not_measured: tuple[str, ...] = ()
    """The tables the config declares absent: what they would measure is not measured."""
    evidence: EvidenceRows | None = None
    """The items behind the missed service levels, read in the same transaction as the sums
    (contract section 12); None when no level needed them."""


EvidenceWanted = Callable[[Activity], Sequence[EvidenceGroup]]
"""Given the activity just read, the vendor x level x months whose items to list."""


def _read_summary(
    connection: Connection, statement: Select[Any], schema: Mapping[str, pl.DataType], name: str
) -> pl.DataFrame:
    try:
        result = connection.execute(statement)
        names = list(result.keys())
        rows = result.all()
    except SQLAlchemyError as exc:
        raise source_error(exc, f"reading {name!r}", f"cannot read table {name!r}") from None
    # Column by column: several times faster for polars than row tuples. By name: the declared
    # KPIs' sums and keys are not at the end of the query's columns.
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    by_name = dict(zip(names, columns, strict=True))
    try:
        return pl.DataFrame(
            {column: list(by_name[column]) for column in schema},
            schema=dict(schema),
            strict=False,
        )
    except (ValueError, TypeError) as exc:
        raise SourceError(f"table {name!r} holds a value of the wrong type: {exc}") from None


def _fence(connection: Connection, parsed: Sequence[str] = ()) -> bool:
    """Whether to fence the subqueries (see `fenced`).

    SQLite flattens subqueries, computing a column again at each mention. PostgreSQL pulls a
    subquery up into the query around it likewise: a column parsed from text (a regular
    expression, a day check and a cast per time) was computed at each of its mentions, per
    row: 8,000 work items with three text times took 4.4-6.1 s a summing query, 0.8 s fenced.
    A fence costs PostgreSQL its parallel plans, so it is used there only when some column
    is parsed from text.
    """
    name = connection.dialect.name
    return name == "sqlite" or (name == "postgresql" and bool(parsed))


def work_item_days(
    connection: Connection,
    source: Any,
    window: Window,
    repeated: Repeated,
    parallel_queries: int,
    parsed: Sequence[str] = (),
    kpis: Mapping[str, DeclaredKpi] | None = None,
    extras: Sequence[str] = (),
) -> pl.DataFrame:
    """The work items summed per vendor, process, rule and day, in one or several queries.

    PostgreSQL's planner cannot foresee how few groups this makes, so it
    never spreads the grouping over its parallel workers, and SQLite runs a
    query on one core. On both the job does that itself: the rows are sliced
    by time completed, on report periods' boundaries (`completed_part`: the
    median turnaround ranks the items of a vendor's report period together, so
    no slice may cut one; with one report period, one query), and each slice is
    summed by its own connection, all
    reading one state of the data (PostgreSQL: the snapshot this transaction
    exported; SQLite: the shared lock this transaction holds, under which no
    write can commit; see `export_snapshot`). The slices' groups are then
    added up. Elsewhere, one query.
    """
    schema = work_item_days_schema(kpis, extras)
    keys = work_item_day_keys(kpis)
    parallel_queries = completed_parts(window, parallel_queries)
    snapshot = export_snapshot(connection) if parallel_queries > 1 else None
    if snapshot is None:
        query = work_item_days_query(
            source, window, repeated, parsed=parsed, fence=_fence(connection, parsed),
            kpis=kpis, extras=extras,
        )  # fmt: skip
        return _read_summary(connection, query, schema, "work_items")

    def slice_query(part: int) -> Select[Any]:
        return work_item_days_query(
            source, window, repeated, completed_part(window, part, parallel_queries), parsed,
            fence=_fence(connection, parsed), kpis=kpis, extras=extras,
        )  # fmt: skip

    def summed_slice(part: int) -> pl.DataFrame | None:
        query = slice_query(part)
        if part == 0:
            return _read_summary(connection, query, schema, "work_items")
        try:
            with read_only_connection(connection.engine, snapshot) as sibling:
                return _read_summary(sibling, query, schema, "work_items")
        except SourceError:
            if connection.dialect.name != "sqlite":
                raise
            # SQLite: a writer waiting for this run's lock keeps new readers out. The slice
            # is then summed on the first connection, after the others (same state).
            return None

    with ThreadPoolExecutor(max_workers=parallel_queries - 1) as pool:
        others = [pool.submit(summed_slice, part) for part in range(1, parallel_queries)]
        found = [summed_slice(0), *[future.result() for future in others]]
    slices = [
        frame
        if frame is not None
        else _read_summary(connection, slice_query(part), schema, "work_items")
        for part, frame in enumerate(found)
    ]
    sums = [name for name in schema if name not in keys and name not in ("first_id", "last_id")]
    return (
        pl.concat(slices)
        .group_by(keys)
        .agg(
            *[pl.col(name).sum() for name in sums],
            pl.col("first_id").min(),
            pl.col("last_id").max(),
        )
        .select(list(schema))
    )


def _split_summary(
    frame: pl.DataFrame, table: str, rules: Sequence[Rule]
) -> tuple[pl.DataFrame, pl.DataFrame, TableCounts]:
    """Accepted groups (without the rule and ID columns), rejected groups, and the counts."""
    count = "items" if table == "work_items" else "requests"
    frame = with_group_rules(frame, rules)
    good = pl.col("rule").is_null()
    accepted = frame.filter(good).drop("rule", "first_id", "last_id", "bad_value")
    rejected = frame.filter(~good).select(
        pl.lit(table).alias("table"),
        "rule",
        "vendor_id",
        pl.col(count).alias("rows"),
        "first_id",
        "last_id",
        # A group rule's value is the group's vendor (an unknown vendor_id).
        pl.when(pl.col("rule") == "unknown_vendor")
        .then(pl.col("vendor_id"))
        .otherwise(pl.col("bad_value"))
        .alias("value"),
    )
    read = int(frame.get_column(count).sum())
    accepted_rows = int(accepted.get_column(count).sum())
    return accepted, rejected, TableCounts(read, accepted_rows, read - accepted_rows)


def unreadable_extras(accepted: pl.DataFrame, table: str, extras: Sequence[str]) -> pl.DataFrame:
    """Accepted rows whose extra column did not read as its type, per vendor (contract section
    10): null for the declared KPIs that use the column, counted in data_quality.csv under
    `unreadable_<column>`, while the row stays accepted (so it is not in the table's rejected
    count)."""
    frames = [
        accepted.group_by("vendor_id")
        .agg(pl.col(unreadable_column(extra)).sum().alias("rows"))
        .filter(pl.col("rows") > 0)
        .select(
            pl.lit(table).alias("table"),
            pl.lit(unreadable_column(extra)).alias("rule"),
            "vendor_id",
            "rows",
            pl.lit(None, pl.String).alias("first_id"),
            pl.lit(None, pl.String).alias("last_id"),
            pl.lit(None, pl.String).alias("value"),
        )
        for extra in extras
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=REJECTED_GROUP_SCHEMA)


def repeated_ids(
    connection: Connection, table: str, source: Any, window: Window, ids_unique: bool
) -> Repeated:
    """The IDs found more than once among the rows read (see `Repeated`); () with a key."""
    if ids_unique:
        return ()
    try:
        found = connection.execute(repeated_ids_query(table, source, window)).scalars().all()
    except SQLAlchemyError as exc:
        raise source_error(exc, f"reading {table!r}", f"cannot read table {table!r}") from None
    return None if len(found) > REPEATED_IDS_LISTED else tuple(found)


def _small_table_counts(read: pl.DataFrame, accepted: pl.DataFrame) -> TableCounts:
    return TableCounts(read.height, accepted.height, read.height - accepted.height)


def _charges_in_window(window: Window) -> Callable[[Any], Any]:
    """Charges whose service days touch the window; undated and reversed ones too, to be rejected."""

    def where(c: Any) -> Any:
        start, end = moment(c.service_start), moment(c.service_end)
        first, last = at(window.first_day), at(window.last_day)
        return or_(
            c.service_start.is_(None),
            c.service_end.is_(None),
            and_(start <= last, end >= first),
            and_(start >= first, start <= last),
        )

    return where


def _vendors_from_activity(spec: TableSource, vendor_ids: Sequence[str]) -> pl.DataFrame:
    """One vendor per vendor_id found in the activity: named after its ID, then defaults, overrides."""
    rows = []
    for vendor_id in sorted(set(vendor_ids)):
        row: dict[str, Any] = {"vendor_id": vendor_id, "name": vendor_id}
        row.update(spec.defaults.model_dump(exclude_none=True))
        override = spec.overrides.get(vendor_id)
        if override is not None:
            row.update(override.model_dump(exclude_none=True))
        rows.append(row)
    schema = polars_schema("vendors")
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def _activity_vendor_ids(frames: Sequence[pl.DataFrame]) -> list[str]:
    ids: set[str] = set()
    for frame in frames:
        ids.update(v for v in frame.get_column("vendor_id").drop_nulls().to_list() if v.strip())
    return sorted(ids)


def _extract_once(
    connection: Connection,
    window: Window,
    resolved: Mapping[str, Source],
    currency: CurrencyConfig,
    target_hours: Mapping[str, float],
    progress: Callable[[str], None],
    parallel_queries: int,
    kpis: Mapping[str, DeclaredKpi],
    evidence: EvidenceWanted | None = None,
) -> Activity:
    charges_source = resolved["charges"]
    charges_read = (
        pl.DataFrame(schema=polars_schema("charges"))
        if charges_source.select is None
        else read_table(
            connection,
            "charges",
            charges_source.select,
            charges_source.parsed,
            where=_charges_in_window(window),
        )
    )
    vendor_source = resolved["vendors"]

    def split_vendors(read: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        return split_rows(read, vendor_rules(vendor_source.parsed), "vendors", vendor_source.parsed)

    vendors_read: pl.DataFrame | None = None
    if not vendor_source.from_activity:
        assert vendor_source.select is not None, "vendors cannot be absent"
        vendors_read = read_table(connection, "vendors", vendor_source.select, vendor_source.parsed)
        vendors, rejected_vendors = split_vendors(vendors_read)

    days: dict[str, pl.DataFrame] = {}
    repeated: dict[str, Repeated] = {}
    sources: dict[str, Subquery] = {}
    declared = {
        table: {name: kpi for name, kpi in kpis.items() if kpi.table == table}
        for table in ("work_items", "requests")
    }
    for table, schema in (
        ("work_items", work_item_days_schema(declared["work_items"])),
        ("requests", request_days_schema(declared["requests"])),
    ):
        found = resolved[table]
        extras = found.extras_parsed
        if found.select is None:
            days[table] = pl.DataFrame(schema=schema)
            continue
        progress(f"checking and summing {table.replace('_', ' ')} in the database")
        source = fenced(found.select, _fence(connection, found.parsed)).subquery("src")
        sources[table] = source
        # Asked first, on this connection and transaction: the same state the sums read.
        repeated[table] = repeated_ids(
            connection, table, source, window,
            ids_enforced_unique(connection.engine, table, found.spec),
        )  # fmt: skip
        days[table] = (
            work_item_days(
                connection, source, window, repeated[table], parallel_queries, found.parsed,
                declared[table], extras,
            )
            if table == "work_items"
            else _read_summary(
                connection,
                request_days_query(
                    source, window, repeated[table], target_hours, found.parsed,
                    _fence(connection, found.parsed), declared[table], extras,
                ),
                request_days_schema(declared[table], extras),
                table,
            )
        )  # fmt: skip

    if vendors_read is None:
        assert vendor_source.spec is not None
        vendors_read = _vendors_from_activity(
            vendor_source.spec, _activity_vendor_ids([*days.values(), charges_read])
        )
        vendors, rejected_vendors = split_vendors(vendors_read)
    all_ids: Sequence[str] = vendors_read.get_column("vendor_id").drop_nulls().unique().to_list()
    accepted_ids: Sequence[str] = vendors.get_column("vendor_id").to_list()
    charges, rejected_charges = split_rows(
        charges_read,
        charge_rules(all_ids, accepted_ids, currency, charges_source.parsed),
        "charges",
        charges_source.parsed,
    )

    checks = group_rules(all_ids, accepted_ids)
    summed: dict[str, tuple[pl.DataFrame, pl.DataFrame, TableCounts]] = {}
    for table in ("work_items", "requests"):
        summed[table] = _split_summary(days[table], table, checks)
    items, rejected_items, item_counts = summed["work_items"]
    requests, rejected_requests, request_counts = summed["requests"]
    unreadable = [
        unreadable_extras(accepted, table, resolved[table].extras_parsed)
        for table, (accepted, _, _) in summed.items()
    ]
    rejected = pl.concat(
        [
            frame.cast(REJECTED_GROUP_SCHEMA)  # type: ignore[arg-type]
            for frame in (
                rejected_vendors,
                rejected_items,
                rejected_requests,
                rejected_charges,
                *unreadable,
            )
        ]
    )
    table_counts = {
        "vendors": _small_table_counts(vendors_read, vendors),
        "work_items": item_counts,
        "requests": request_counts,
        "charges": _small_table_counts(charges_read, charges),
    }
    activity = Activity(
        vendors=vendors,
        charges=charges,
        work_item_days=items,
        request_days=requests,
        data_quality=summarise_rejections(rejected),
        counts={name: c for name, c in table_counts.items() if not resolved[name].absent},
        not_measured=tuple(name for name, found in resolved.items() if found.absent),
    )
    if evidence is None:
        return activity
    groups = tuple(evidence(activity))
    if not groups:  # every level met: an evidence file with nothing in it, and no query
        empty = EvidenceRows(
            (),
            accepted(pl.DataFrame(schema=WORK_ITEM_EVIDENCE_SCHEMA)),
            accepted(pl.DataFrame(schema=REQUEST_EVIDENCE_SCHEMA)),
        )
        return dataclasses.replace(activity, evidence=empty)
    progress(f"listing the items behind {len(groups)} missed service levels")
    if connection.dialect.name == "postgresql":
        # Its JIT would spend seconds compiling the groups' tests for one pass over the rows.
        connection.exec_driver_sql("SET LOCAL jit = off")
    read: dict[str, pl.DataFrame] = {}
    for table, base in (
        ("work_items", WORK_ITEM_EVIDENCE_SCHEMA),
        ("requests", REQUEST_EVIDENCE_SCHEMA),
    ):
        wanted = groups_of(groups, table, kpis)
        # The declared rates among the missed levels: their failed trials come in the same query.
        rates = declared_rates(kpis, table)
        asked = {n: rates[n] for n in sorted({g.kpi for g in wanted} & set(rates))}
        schema = evidence_schema(base, list(asked))
        if not wanted or table not in sources:
            read[table] = accepted(pl.DataFrame(schema=schema))
            continue
        found = resolved[table]
        query = (
            work_item_evidence_query(sources[table], window, repeated[table], wanted, found.parsed,
                                     asked)
            if table == "work_items"
            else request_evidence_query(
                sources[table], window, repeated[table], wanted, target_hours, found.parsed, asked
            )
        )  # fmt: skip
        # On this connection, in this transaction: the state of the data the sums read.
        read[table] = accepted(_read_summary(connection, query, schema, table))
    return dataclasses.replace(
        activity, evidence=EvidenceRows(groups, read["work_items"], read["requests"])
    )


def extract_activity(
    engine: Engine,
    window: Window,
    currency: CurrencyConfig,
    target_hours: Mapping[str, float],
    sources: Mapping[str, TableSource] | None = None,
    progress: Callable[[str], None] = lambda _: None,
    parallel_queries: int = 1,
    kpis: Mapping[str, DeclaredKpi] | None = None,
    evidence: EvidenceWanted | None = None,
) -> Activity:
    """Read, check and sum everything for the window; retried once if the connection drops.

    parallel_queries: on PostgreSQL, how many connections sum the work items together.
    kpis: the declared KPIs, summed with the built-in sums (contract section 10).
    evidence: which missed service levels' items to list, in the same transaction.
    """
    resolved = resolve_all(engine, sources or {})
    for attempt in (1, 2):
        try:
            with read_only_connection(engine) as connection:
                return _extract_once(
                    connection, window, resolved, currency, target_hours, progress,
                    parallel_queries, kpis or {}, evidence,
                )  # fmt: skip
        except ConnectionLost as lost:
            if attempt == 2:
                raise SourceError(f"{lost} (after one retry)") from None
            progress(f"{lost}; retrying the extraction once")
            engine.dispose()  # drop pooled connections to the old server session
    raise AssertionError("unreachable")


def read_activity(
    database_url: str,
    config: Config,
    window: Window,
    progress: Callable[[str], None] = lambda _: None,
    evidence: EvidenceWanted | None = None,
) -> Activity:
    """The extract stage as one call: connect as the config says, read the window, disconnect.

    evidence: given what was read, the missed service levels whose items to list (read in
    the same transaction, so they reconcile with the sums).
    """
    progress(f"reading {redact_url(database_url)}")
    engine = source_engine(database_url, config)
    try:
        # The keys are canonical table names (checked by the config), so str keys are exact.
        return extract_activity(
            engine,
            window,
            config.currency,
            config.response_targets_hours.hours(),
            config.source,  # type: ignore[arg-type]
            progress,
            config.database.parallel_queries,
            config.kpis,
            evidence,
        )
    finally:
        engine.dispose()


def received_span(database_url: str, config: Config) -> tuple[dt.datetime, dt.datetime] | None:
    """received_range through the run's own kind of connection (a run with nothing to score)."""
    engine = source_engine(database_url, config)
    try:
        return received_range(engine, config.source)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def received_range(
    engine: Engine, sources: Mapping[str, TableSource] | None = None
) -> tuple[dt.datetime, dt.datetime] | None:
    """When the work items were received, first and last, over every row (None: no rows).

    Asked only when a run finds nothing to score, to say where the data is.
    """
    found = resolve_all(engine, sources or {})["work_items"]
    if found.select is None:
        return None
    rows = found.select.subquery("src")
    received = rows.c.received_at
    with read_only_connection(engine) as connection:
        # Untyped: SQLite gives a julianday() number, which no date parser reads.
        first, last = connection.execute(
            select(
                type_coerce(func.min(received), NullType()),
                type_coerce(func.max(received), NullType()),
            )
        ).one()
    start, end = as_datetime(first), as_datetime(last)
    return None if start is None or end is None else (start, end)
