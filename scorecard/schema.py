"""The canonical activity schema (contract section 1) as SQLAlchemy Core metadata.

`init-db` creates these tables. Rules beyond primary keys (ranges, enums,
references) are deliberately not database constraints: real sources are
views and exports that break them, and the job must count those rows
(contract section 7), not fail on them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)

ID = String(64)
metadata = MetaData()

vendors = Table(
    "vendors",
    metadata,
    Column("vendor_id", ID, primary_key=True),
    Column("name", String(200)),
    Column("sourcing", String(20)),
    Column("country", String(2)),
    Column("currency", String(3)),
    Column("manager_email", String(254)),
    Column("contract_start", Date),
    Column("contract_end", Date),
)

work_items = Table(
    "work_items",
    metadata,
    Column("work_item_id", ID, primary_key=True),
    Column("vendor_id", ID, index=True),
    Column("process", String(60)),
    Column("received_at", DateTime),
    Column("due_at", DateTime),
    Column("completed_at", DateTime),
    Column("units", Integer),
    Column("qa_checked_units", Integer),
    Column("defects", Integer),
    Column("reworked", Boolean),
)

requests = Table(
    "requests",
    metadata,
    Column("request_id", ID, primary_key=True),
    Column("vendor_id", ID, index=True),
    Column("process", String(60)),
    Column("priority", String(10)),
    Column("opened_at", DateTime),
    Column("first_response_at", DateTime),
    Column("resolved_at", DateTime),
)

charges = Table(
    "charges",
    metadata,
    Column("charge_id", ID, primary_key=True),
    Column("vendor_id", ID, index=True),
    Column("process", String(60)),
    Column("service_start", Date),
    Column("service_end", Date),
    # Floats in Python: amounts are converted and spread as floats anyway.
    Column("amount", Numeric(18, 4, asdecimal=False)),
    Column("currency", String(3)),
    Column("kind", String(20)),
)

TABLES: dict[str, Table] = {t.name: t for t in (vendors, work_items, requests, charges)}
ID_COLUMN = {
    "vendors": "vendor_id",
    "work_items": "work_item_id",
    "requests": "request_id",
    "charges": "charge_id",
}


def create_tables(engine: Engine) -> None:
    """Create the canonical tables that do not exist yet (existing ones are left alone)."""
    metadata.create_all(engine)
