"""Repository of ingest: stored versions, set-based upserts, rejections, batches.

Rows travel to PostgreSQL as one JSON array per statement (`json_to_recordset`), or, for
the large upserts, by one COPY into a temp table (`stage_rows`), or, when none of their
keys is stored, by one COPY straight into the table (`insert_new_rows`): a request costs
the same handful of statements whatever its size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, LiteralString
from uuid import UUID

import orjson
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
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

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StockTarget:
    """What a stock key resolves to: its item and warehouse (None when unknown), its version.

    The ids are the uuids' text (`stored_stock`): cheaper to load, hash and COPY than `UUID`s.
    """

    item_id: str | None
    warehouse_id: str | None
    stored: StoredVersion | None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row kept in ingest_rejections, to replay."""

    entity: Entity
    row_key: str
    raw_row: dict[str, Any]


# The staging of rows by COPY (`stage_rows`): items and stock, the large upserts.
Staged = Literal["items", "stock"]
_STAGE: dict[Staged, LiteralString] = {"items": "stage_items", "stock": "stage_stock"}
_CLEAR_STAGED: dict[Staged, LiteralString] = {
    "items": "clear_staged_items",
    "stock": "clear_staged_stock",
}
_COPY: dict[Staged, LiteralString] = {"items": "copy_items", "stock": "copy_stock"}
# Rows none of whose keys is stored, by COPY straight into the table (`insert_new_rows`).
_INSERT_NEW: dict[Staged, LiteralString] = {
    "items": "insert_new_items",
    "stock": "insert_new_stock",
}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: PostgreSQL reads it as numeric
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_rows(rows: Sequence[dict[str, Any]]) -> Json:
    """Rows as one JSON parameter (Decimals as exact strings).

    Bytes, not str: psycopg sends them as they are (a 5000-item page is ~7 MB of JSON,
    decoded then encoded again otherwise).
    """
    return Json(rows, dumps=lambda obj: orjson.dumps(obj, default=_default))


async def _tuples(
    conn: Connection, query: LiteralString, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of a query as tuples, in its column order."""
    # For the queries with one row per pushed row: a dict per row cost ≈ 2 µs.
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(QUERIES[query], params)
        return await cur.fetchall()


async def _stored(
    conn: Connection, query: LiteralString, vendor_id: str, keys: list[str]
) -> dict[str, StoredVersion]:
    rows = await _tuples(conn, query, {"vendor_id": vendor_id, "keys": keys})
    # (key, content_hash, last_synced_at, retired)
    return {
        key: StoredVersion(content_hash, synced, retired)
        for key, content_hash, synced, retired in rows
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
    params = {
        "vendor_id": vendor_id,
        "item_skus": [sku for sku, _ in pairs],
        "erp_warehouse_ids": [wh for _, wh in pairs],
    }
    targets: dict[str, StockTarget] = {}
    # (item_sku, erp_warehouse_id, item_id, warehouse_id, content_hash, last_synced_at, retired)
    for sku, erp_id, item_id, warehouse_id, content_hash, synced, retired in await _tuples(
        conn, "stored_stock", params
    ):
        stored = None if content_hash is None else StoredVersion(content_hash, synced, retired)
        targets[f"{sku}|{erp_id}"] = StockTarget(item_id, warehouse_id, stored)
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


def copy_columns(entity: Staged, *, new: bool = False) -> tuple[str, ...]:
    """The columns of the entity's COPY statement, in the order `stage_rows` (or, `new`,
    `insert_new_rows`) writes them."""
    query = QUERIES[_INSERT_NEW[entity] if new else _COPY[entity]]
    listed = query.split("(", 1)[1].split(")", 1)[0]
    return tuple(name.strip() for name in listed.split(","))


async def stage_rows(conn: Connection, entity: Staged, rows: Iterable[Sequence[Any]]) -> None:
    """Load rows into the entity's session temp table by text COPY (made if missing, emptied)."""
    # Parsing the same rows as JSON (json_to_recordset) cost PostgreSQL 2-3x more.
    await conn.execute(QUERIES[_STAGE[entity]])
    await conn.execute(QUERIES[_CLEAR_STAGED[entity]])
    async with conn.cursor() as cur, cur.copy(QUERIES[_COPY[entity]]) as loader:
        for row in rows:
            await loader.write_row(row)


async def insert_new_rows(conn: Connection, entity: Staged, rows: Iterable[Sequence[Any]]) -> bool:
    """Insert rows none of whose keys is stored, by COPY straight into the entity's table.

    False, with nothing written (a savepoint), when a concurrent push has inserted one of
    the keys since they were read: the caller upserts the rows instead. Only for a request
    that writes nothing else to the table, so that its locks are taken in one key order.
    """
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        # Outside a transaction the savepoint would be one, committing the rows at once.
        raise RuntimeError("insert_new_rows runs inside the caller's transaction")
    try:
        async with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(QUERIES[_INSERT_NEW[entity]]) as loader,
        ):
            for row in rows:
                await loader.write_row(row)
    except UniqueViolation:
        logger.info(
            "ingest: a concurrent push inserted some of these %s keys first; upserting", entity
        )
        return False
    return True


async def write_staged(
    conn: Connection, query: LiteralString, vendor_id: str
) -> list[tuple[Any, ...]]:
    """Run one of the upserts of staged rows (`stage_rows`); the keys it wrote, as tuples."""
    return await _tuples(conn, query, {"vendor_id": vendor_id})


async def update_item_stock_totals(conn: Connection, item_ids: list[UUID] | list[str]) -> None:
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


async def pending_rejections(
    conn: Connection, vendor_id: str, entity: Entity, blocked_by_type: BlockedBy | None
) -> tuple[bool, bool]:
    """(rejected rows of the entity exist, rows waiting for a `blocked_by_type` exist)."""
    params = {"vendor_id": vendor_id, "entity": entity, "blocked_by_type": blocked_by_type}
    [(of_entity, waiting)] = await _tuples(conn, "pending_rejections", params)
    return bool(of_entity), bool(waiting)


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


async def record_batch(
    conn: Connection,
    *,
    snapshot_id: str | None = None,
    snapshot_page: int | None = None,
    snapshot_last: bool | None = None,
    snapshot_keys: list[str] | None = None,
    **values: Any,
) -> None:
    """One ingest_batches row (counts, bytes, duration, correlation id, snapshot page)."""
    snapshot = {
        "snapshot_id": snapshot_id,
        "snapshot_page": snapshot_page,
        "snapshot_last": snapshot_last,
        "snapshot_keys": snapshot_keys,
    }
    await conn.execute(QUERIES["record_ingest_batch"], {**values, **snapshot})


# --- Full snapshots (issue 4) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotState:
    """What is committed of one snapshot: its page numbers, its last page once complete."""

    pages: list[int]
    completed_last_page: int | None


@dataclass(frozen=True, slots=True)
class SnapshotCounts:
    """Distinct keys a snapshot sent; the vendor's active rows, and those it did not contain."""

    sent_keys: int
    active_rows: int
    missing_rows: int


_COUNT_MISSING: dict[Entity, LiteralString] = {
    "items": "count_items_missing_from_snapshot",
    "stock": "count_stock_missing_from_snapshot",
    "warehouses": "count_warehouses_missing_from_snapshot",
}
_RETIRE_MISSING: dict[Entity, LiteralString] = {
    "items": "retire_items_missing_from_snapshot",
    "stock": "zero_stock_missing_from_snapshot",
    "warehouses": "retire_warehouses_missing_from_snapshot",
}


def _snapshot_params(vendor_id: str, entity: Entity, snapshot_id: str) -> dict[str, Any]:
    return {"vendor_id": vendor_id, "entity": entity, "snapshot_id": snapshot_id}


async def snapshot_state(
    conn: Connection, vendor_id: str, entity: Entity, snapshot_id: str
) -> SnapshotState:
    """Pages of the snapshot committed so far, and its last page if it is complete."""
    cur = await conn.execute(
        QUERIES["snapshot_state"], _snapshot_params(vendor_id, entity, snapshot_id)
    )
    row = await cur.fetchone()
    assert row is not None
    return SnapshotState(list(row["pages"]), row["completed_last_page"])


async def complete_snapshot(
    conn: Connection,
    *,
    vendor_id: str,
    entity: Entity,
    snapshot_id: str,
    last_page: int,
    forced: bool,
    correlation_id: str | None,
) -> bool:
    """The ingest_snapshots row of a snapshot whose last page commits; False if it existed."""
    cur = await conn.execute(
        QUERIES["complete_snapshot"],
        {
            **_snapshot_params(vendor_id, entity, snapshot_id),
            "last_page": last_page,
            "forced": forced,
            "correlation_id": correlation_id,
        },
    )
    return await cur.fetchone() is not None


async def lock_pending_snapshot(
    conn: Connection, vendor_id: str, entity: Entity, snapshot_id: str
) -> tuple[int, bool] | None:
    """(row id, forced) of the snapshot, locked, while it is pending; else None."""
    cur = await conn.execute(
        QUERIES["lock_pending_snapshot"], _snapshot_params(vendor_id, entity, snapshot_id)
    )
    row = await cur.fetchone()
    return None if row is None else (row["id"], row["forced"])


async def count_missing_from_snapshot(
    conn: Connection, vendor_id: str, entity: Entity, snapshot_id: str
) -> SnapshotCounts:
    """How many keys the snapshot sent, active rows there are, and active rows it lacks."""
    cur = await conn.execute(
        QUERIES[_COUNT_MISSING[entity]], _snapshot_params(vendor_id, entity, snapshot_id)
    )
    row = await cur.fetchone()
    assert row is not None
    return SnapshotCounts(row["sent_keys"], row["active_rows"], row["missing_rows"])


async def retire_missing_from_snapshot(
    conn: Connection, vendor_id: str, entity: Entity, snapshot_id: str
) -> int:
    """Deactivate (items, warehouses) or zero (stock) the active rows the snapshot lacks.

    Stock: the items' totals are then set to the sums over their stock rows.
    """
    cur = await conn.execute(
        QUERIES[_RETIRE_MISSING[entity]], _snapshot_params(vendor_id, entity, snapshot_id)
    )
    rows = await cur.fetchall()
    if entity == "stock":
        await update_item_stock_totals(conn, sorted({row["item_id"] for row in rows}))
    return len(rows)


async def finish_snapshot(conn: Connection, snapshot_row_id: int, **values: Any) -> None:
    """Record what the job did (status, counts, share, refusal reason)."""
    await conn.execute(QUERIES["finish_snapshot"], {"id": snapshot_row_id, **values})


# --- end of snapshots -------------------------------------------------------------------
