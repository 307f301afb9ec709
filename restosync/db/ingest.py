"""Repository of ingest: stored versions, set-based upserts, rejections, batches.

Rows travel to PostgreSQL as one JSON array per statement (`json_to_recordset`), so a
request costs the same handful of statements whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID

import orjson
from psycopg.types.json import Json

from restosync.db.paging import fetch_page
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.ingest import (
    BlockedBy,
    Entity,
    RejectionFilter,
    RejectionView,
    StoredVersion,
)
from restosync.models.pagination import PageQuery


@dataclass(frozen=True, slots=True)
class StockTarget:
    """What a stock key resolves to: its item and warehouse (None when unknown), its version."""

    item_id: UUID | None
    warehouse_id: UUID | None
    stored: StoredVersion | None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row kept in ingest_rejections, to replay."""

    entity: Entity
    row_key: str
    raw_row: dict[str, Any]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: PostgreSQL reads it as numeric
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_rows(rows: Sequence[dict[str, Any]]) -> Json:
    """Rows as one JSON parameter (Decimals as exact strings)."""
    return Json(rows, dumps=lambda obj: orjson.dumps(obj, default=_default).decode())


async def _stored(
    conn: Connection, query: LiteralString, vendor_id: str, keys: list[str]
) -> dict[str, StoredVersion]:
    cur = await conn.execute(QUERIES[query], {"vendor_id": vendor_id, "keys": keys})
    return {
        row["key"]: StoredVersion(row["content_hash"], row["last_synced_at"], row["retired"])
        for row in await cur.fetchall()
    }


async def stored_items(
    conn: Connection, vendor_id: str, skus: list[str]
) -> dict[str, StoredVersion]:
    """Stored versions of these items, by sku."""
    return await _stored(conn, "stored_items", vendor_id, skus)


async def stored_warehouses(
    conn: Connection, vendor_id: str, erp_ids: list[str]
) -> dict[str, StoredVersion]:
    """Stored versions of these warehouses, by ERP id."""
    return await _stored(conn, "stored_warehouses", vendor_id, erp_ids)


async def stock_targets(
    conn: Connection, vendor_id: str, keys: Iterable[tuple[str, str]]
) -> dict[str, StockTarget]:
    """For each (itemSku, erpWarehouseId): ids and stored version, by `itemSku|erpWarehouseId`."""
    pairs = list(keys)
    cur = await conn.execute(
        QUERIES["stored_stock"],
        {
            "vendor_id": vendor_id,
            "item_skus": [sku for sku, _ in pairs],
            "erp_warehouse_ids": [wh for _, wh in pairs],
        },
    )
    targets: dict[str, StockTarget] = {}
    for row in await cur.fetchall():
        stored = None
        if row["content_hash"] is not None:
            stored = StoredVersion(row["content_hash"], row["last_synced_at"], row["retired"])
        key = f"{row['item_sku']}|{row['erp_warehouse_id']}"
        targets[key] = StockTarget(row["item_id"], row["warehouse_id"], stored)
    return targets


async def warehouse_code_holders(
    conn: Connection, vendor_id: str, codes: list[str]
) -> dict[str, str]:
    """Which warehouse (ERP id) holds each of these codes."""
    cur = await conn.execute(
        QUERIES["warehouse_code_holders"], {"vendor_id": vendor_id, "codes": codes}
    )
    return {row["code"]: row["erp_warehouse_id"] for row in await cur.fetchall()}


async def lock_rows(conn: Connection, query: LiteralString, params: dict[str, Any]) -> None:
    """Run one of the `lock_*` queries (row locks in key order)."""
    await conn.execute(QUERIES[query], params)


async def write_rows(
    conn: Connection, query: LiteralString, vendor_id: str, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run one of the set-based upsert/retire queries; the rows it wrote."""
    if not rows:
        return []
    cur = await conn.execute(QUERIES[query], {"vendor_id": vendor_id, "rows": json_rows(rows)})
    return await cur.fetchall()


async def update_item_stock_totals(conn: Connection, item_ids: list[UUID]) -> None:
    """Set the items' stock totals to the sums over all their stock rows."""
    if not item_ids:
        return
    params = {"item_ids": item_ids}
    await conn.execute(QUERIES["lock_items_by_id"], params)
    await conn.execute(QUERIES["update_item_stock_totals"], params)


async def record_rejections(
    conn: Connection,
    *,
    vendor_id: str,
    entity: Entity,
    rows: Sequence[dict[str, Any]],
    correlation_id: str | None,
    count_as_seen: bool,
) -> None:
    """Keep the latest rejected version of each row (key, reason, detail, raw_row, blocked_by_*)."""
    if not rows:
        return
    await conn.execute(
        QUERIES["record_ingest_rejections"],
        {
            "vendor_id": vendor_id,
            "entity": entity,
            "rows": json_rows(rows),
            "correlation_id": correlation_id,
            "count_as_seen": count_as_seen,
        },
    )


async def clear_rejections(
    conn: Connection, vendor_id: str, entity: Entity, keys: list[str]
) -> None:
    """Forget the rejections of rows that landed."""
    if keys:
        await conn.execute(
            QUERIES["clear_ingest_rejections"],
            {"vendor_id": vendor_id, "entity": entity, "keys": keys},
        )


async def blocked_codes(
    conn: Connection, vendor_id: str, blocked_by_type: BlockedBy, codes: list[str]
) -> list[str]:
    """Which of `codes` rejected rows of the vendor are waiting for."""
    if not codes:
        return []
    cur = await conn.execute(
        QUERIES["blocked_codes"],
        {"vendor_id": vendor_id, "blocked_by_type": blocked_by_type, "codes": codes},
    )
    return sorted(row["blocked_by_code"] for row in await cur.fetchall())


async def rejections_to_replay(
    conn: Connection,
    vendor_id: str,
    *,
    entity: Entity | None = None,
    blocked_by_type: BlockedBy | None = None,
    codes: list[str] | None = None,
) -> list[RejectedRow]:
    """A vendor's rejected rows, optionally of one entity or blocked by some codes."""
    cur = await conn.execute(
        QUERIES["rejections_to_replay"],
        {
            "vendor_id": vendor_id,
            "entity": entity,
            "blocked_by_type": blocked_by_type,
            "codes": codes,
        },
    )
    return [RejectedRow(**row) for row in await cur.fetchall()]


async def rejection_views(
    conn: Connection, filters: RejectionFilter, page: PageQuery
) -> tuple[list[RejectionView], int]:
    """One page of rejected rows, newest first, and how many match in all."""
    params = filters.model_dump(by_alias=False)
    rows, total = await fetch_page(conn, QUERIES["rejection_views"], params, page)
    return [RejectionView.model_validate(row) for row in rows], total


async def record_batch(conn: Connection, **values: Any) -> None:
    """One ingest_batches row (counts, bytes, duration, correlation id)."""
    await conn.execute(QUERIES["record_ingest_batch"], values)
