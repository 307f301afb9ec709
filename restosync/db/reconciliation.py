"""Repository of reconciliation: Postgres's side of a comparison, and reconciliation_events.

A comparison runs in one REPEATABLE READ transaction (`begin_snapshot` first): the vendor's
present rows of one entity are copied into a temporary table dropped at commit, and every
ranged checksum, split and manifest of the narrowing reads that one copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from restosync.db.paging import fetch_page
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.pagination import PageQuery
from restosync.models.reconciliation import EventType, ReconciledEntity, ReconciliationEvent


@dataclass(frozen=True, slots=True)
class ReconciliationTarget:
    """A vendor's agent as reconciliation calls it."""

    vendor_id: str
    agent_url: str
    outbound_secret: str
    agent_health: str


@dataclass(frozen=True, slots=True)
class RangeSummary:
    """Checksum (SPEC §5.3) and row count of one key range."""

    checksum: str
    count: int


@dataclass(frozen=True, slots=True)
class StoredKey:
    """One present row of a range: its key, content hash and ERP-side sync time."""

    key: str
    content_hash: str
    last_synced_at: datetime
    item_sku: str | None = None  # stock: the key's parts (either may contain "|")
    erp_warehouse_id: str | None = None


async def target(
    conn: Connection, vendor_id: str, *, degraded_seconds: float, offline_seconds: float
) -> ReconciliationTarget | None:
    """The vendor's agent with its live health; None when the vendor never registered."""
    cur = await conn.execute(
        QUERIES["reconciliation_target"],
        {
            "vendor_id": vendor_id,
            "degraded_seconds": degraded_seconds,
            "offline_seconds": offline_seconds,
        },
    )
    row = await cur.fetchone()
    return ReconciliationTarget(**row) if row else None


async def active_vendors(conn: Connection) -> list[str]:
    """Vendors whose agent is registered and not deregistered."""
    cur = await conn.execute(QUERIES["active_reconciliation_vendors"])
    return [row["vendor_id"] for row in await cur.fetchall()]


async def checksum(
    conn: Connection,
    vendor_id: str,
    entity: ReconciledEntity,
    range_start: str | None = None,
    range_end: str | None = None,
) -> RangeSummary:
    """Checksum and count of the vendor's present rows in [range_start, range_end]."""
    cur = await conn.execute(
        QUERIES["reconciliation_checksum"],
        {
            "vendor_id": vendor_id,
            "entity": entity,
            "range_start": range_start,
            "range_end": range_end,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return RangeSummary(row["checksum"], int(row["row_count"]))


async def begin_snapshot(conn: Connection) -> None:
    """Make this transaction one snapshot (its first statement)."""
    await conn.execute(QUERIES["begin_reconciliation_snapshot"])


async def copy_keys(conn: Connection, vendor_id: str, entity: ReconciledEntity) -> None:
    """Copy the vendor's present rows of the entity for the ranged reads below."""
    await conn.execute(QUERIES["create_reconciliation_keys"])
    await conn.execute(
        QUERIES["fill_reconciliation_keys"], {"vendor_id": vendor_id, "entity": entity}
    )
    await conn.execute(QUERIES["index_reconciliation_keys"])
    await conn.execute(QUERIES["analyze_reconciliation_keys"])


async def split_keys(
    conn: Connection, range_start: str | None, range_end: str | None, *, step: int, total: int
) -> list[str]:
    """Every `step`-th key of the range (of `total` keys), the last key excluded."""
    cur = await conn.execute(
        QUERIES["reconciliation_split_keys"],
        {"range_start": range_start, "range_end": range_end, "step": step, "total": total},
    )
    return [row["key"] for row in await cur.fetchall()]


async def bucket_checksums(
    conn: Connection, range_start: str | None, range_end: str | None, lower_bounds: list[str]
) -> dict[int, RangeSummary]:
    """Checksum and count of each sub-range (bucket i starts at lower_bounds[i - 1])."""
    cur = await conn.execute(
        QUERIES["reconciliation_bucket_checksums"],
        {"range_start": range_start, "range_end": range_end, "lower_bounds": lower_bounds},
    )
    return {
        int(row["bucket"]): RangeSummary(row["checksum"], int(row["row_count"]))
        for row in await cur.fetchall()
    }


async def manifest(
    conn: Connection, range_start: str | None, range_end: str | None
) -> list[StoredKey]:
    """The present rows of the range, in byte-wise key order."""
    cur = await conn.execute(
        QUERIES["reconciliation_manifest"], {"range_start": range_start, "range_end": range_end}
    )
    return [StoredKey(**row) for row in await cur.fetchall()]


async def mark_items_obsolete(conn: Connection, vendor_id: str, skus: list[str]) -> int:
    """Flag retired items as obsolete (found missing in the ERP); how many changed."""
    cur = await conn.execute(
        QUERIES["mark_items_obsolete"], {"vendor_id": vendor_id, "skus": sorted(skus)}
    )
    return cur.rowcount


async def record_event(
    conn: Connection,
    *,
    vendor_id: str,
    event_type: EventType,
    entity: ReconciledEntity | None,
    summary: dict[str, Any],
    details: str | None,
    duration_ms: int | None,
    correlation_id: str | None,
) -> int:
    """Append one reconciliation event; its id."""
    cur = await conn.execute(
        QUERIES["record_reconciliation_event"],
        {
            "vendor_id": vendor_id,
            "event_type": event_type,
            "entity": entity,
            "summary": Jsonb(summary),
            "details": details,
            "duration_ms": duration_ms,
            "correlation_id": correlation_id,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def events(
    conn: Connection,
    page: PageQuery,
    *,
    vendor_id: str | None = None,
    event_type: EventType | None = None,
) -> tuple[list[ReconciliationEvent], int]:
    """One page of events, newest first, and how many match in all."""
    rows, total = await fetch_page(
        conn,
        QUERIES["reconciliation_event_views"],
        {"vendor_id": vendor_id, "event_type": event_type},
        page,
    )
    return [ReconciliationEvent.model_validate(row) for row in rows], total
