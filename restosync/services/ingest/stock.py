"""Stock: item and warehouse resolution, writes, and the items' stock totals."""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter, itemgetter
from typing import Any

from restosync.db import ingest as ingest_db
from restosync.db.ingest import StockTarget
from restosync.models.ingest import StockTombstone, StoredVersion
from restosync.models.ingest_fast import StockFields
from restosync.services.ingest.context import IngestContext, settle_writes
from restosync.services.ingest.pipeline import Candidate, Outcome, check_stored


async def lookup_stock(ctx: IngestContext, keys: list[tuple[str, ...]]) -> dict[str, StockTarget]:
    """Item, warehouse and stored version of these (itemSku, erpWarehouseId), by key."""
    pairs = [(item_sku, erp_warehouse_id) for item_sku, erp_warehouse_id in keys]
    return await ingest_db.stock_targets(ctx.conn, ctx.vendor_id, pairs)


async def apply_stock(
    ctx: IngestContext,
    candidates: list[Candidate],
    outcome: Outcome,
    known: Mapping[str, StockTarget],
) -> None:
    """Steps 5-8 for stock: stored versions, key resolution (those not `known` yet), writes,
    item totals."""
    targets = {c.key: known[c.key] for c in candidates if c.key in known}
    missing = [c for c in candidates if c.key not in known]
    if missing:
        targets.update(await _targets(ctx, missing))
    stored = {key: t.stored for key, t in targets.items() if t.stored is not None}
    survivors = check_stored(candidates, stored, outcome)
    upserts = _resolved([c for c in survivors if not c.tombstone], targets, outcome)
    tombstones = [c for c in survivors if c.tombstone]
    await _lock(ctx, upserts, tombstones, targets)
    written: list[tuple[Any, ...]] = []
    records = sorted((_record(c, targets[c.key]) for c in upserts), key=_STOCK_KEY)
    # Only new stock rows (a first load, new items or warehouses): inserted as they are.
    new = bool(records) and not tombstones and all(targets[c.key].stored is None for c in upserts)
    if new and await ingest_db.insert_new_rows(
        ctx.conn, "stock", [(ctx.vendor_id, *record) for record in records]
    ):
        written = [record[:2] for record in records]  # (item_id, warehouse_id)
    elif records:
        await ingest_db.stage_rows(ctx.conn, "stock", records)
        written = await ingest_db.write_staged(ctx.conn, "upsert_stock", ctx.vendor_id)
    retired = await ingest_db.write_rows(
        ctx.conn,
        "retire_stock",
        ctx.vendor_id,
        [_tombstone_record(c, targets[c.key]) for c in tombstones],
    )
    keys = {(t.item_id, t.warehouse_id): key for key, t in targets.items()}
    await settle_writes(
        upserts + tombstones,
        {keys[(item_id, warehouse_id)] for item_id, warehouse_id in written}
        | {keys[(row["item_id"], row["warehouse_id"])] for row in retired},
        outcome,
        lambda missed: _reread(ctx, missed),
    )
    landed_items = {targets[c.key].item_id for c in outcome.landed}
    await ingest_db.update_item_stock_totals(
        ctx.conn, sorted(item_id for item_id in landed_items if item_id is not None)
    )


async def _targets(ctx: IngestContext, candidates: list[Candidate]) -> dict[str, StockTarget]:
    pairs = []
    for candidate in candidates:
        row = candidate.row
        assert isinstance(row, StockFields | StockTombstone)
        pairs.append((row.item_sku, row.erp_warehouse_id))
    return await ingest_db.stock_targets(ctx.conn, ctx.vendor_id, pairs)


async def _reread(ctx: IngestContext, missed: list[Candidate]) -> dict[str, StoredVersion]:
    targets = await _targets(ctx, missed)
    return {key: t.stored for key, t in targets.items() if t.stored is not None}


def _resolved(
    rows: list[Candidate], targets: dict[str, StockTarget], outcome: Outcome
) -> list[Candidate]:
    """Rows whose item and warehouse exist; the others fail, waiting for them."""
    kept: list[Candidate] = []
    for candidate in rows:
        row = candidate.row
        assert isinstance(row, StockFields)
        target = targets[candidate.key]
        if target.item_id is None:
            detail = f"no item with sku {row.item_sku!r}"
            outcome.failed(candidate, "unknown_item", detail, ("item", row.item_sku))
        elif target.warehouse_id is None:
            detail = f"no warehouse with erpWarehouseId {row.erp_warehouse_id!r}"
            outcome.failed(
                candidate, "unknown_warehouse", detail, ("warehouse", row.erp_warehouse_id)
            )
        else:
            kept.append(candidate)
    return kept


async def _lock(
    ctx: IngestContext,
    upserts: list[Candidate],
    tombstones: list[Candidate],
    targets: dict[str, StockTarget],
) -> None:
    """Take, in key order, the locks the writes below would otherwise take in any order."""
    inserted = [targets[c.key] for c in upserts if targets[c.key].stored is None]
    if inserted:
        warehouse_ids = sorted({t.warehouse_id for t in inserted if t.warehouse_id is not None})
        await ingest_db.lock_rows(
            ctx.conn, "share_lock_warehouses", {"warehouse_ids": warehouse_ids}
        )
    if tombstones:
        existing = [targets[c.key] for c in (*upserts, *tombstones) if targets[c.key].stored]
        await ingest_db.lock_rows(
            ctx.conn,
            "lock_stock",
            {
                "vendor_id": ctx.vendor_id,
                "warehouse_ids": [t.warehouse_id for t in existing],
                "item_ids": [t.item_id for t in existing],
            },
        )


# The row's own values, in the column order of `copy_stock` (after item and warehouse ids,
# before lastSyncedAt, from `Candidate.synced_for_copy`).
_COPIED_FIELDS = (
    "real_stock", "virtual_stock", "reserved_quantity", "ordered_quantity",
    "incoming_quantity", "pump", "stock_value", "min_stock", "max_stock",
    "stock_to_order_threshold", "last_synced_from", "content_hash",
)  # fmt: skip
if ingest_db.copy_columns("stock") != (
    "item_id",
    "warehouse_id",
    *_COPIED_FIELDS,
    "last_synced_at",
):
    raise RuntimeError("stock: `_record` no longer matches the columns of copy_stock")
if ingest_db.copy_columns("stock", new=True) != ("vendor_id", *ingest_db.copy_columns("stock")):
    raise RuntimeError("stock: insert_new_stock no longer matches the columns of copy_stock")
# The key order of stock writes (upsert_stock's ORDER BY): warehouse id, item id of a record.
_STOCK_KEY = itemgetter(1, 0)
_COPIED = attrgetter(*_COPIED_FIELDS)  # of a StockFields


def _record(candidate: Candidate, target: StockTarget) -> tuple[Any, ...]:
    """The row's `copy_stock` values."""
    assert isinstance(candidate.row, StockFields)
    ids = (target.item_id, target.warehouse_id)
    return (*ids, *_COPIED(candidate.row), candidate.synced_for_copy())


def _tombstone_record(candidate: Candidate, target: StockTarget) -> dict[str, Any]:
    row = candidate.row
    assert isinstance(row, StockTombstone)
    return {
        "item_id": target.item_id,
        "warehouse_id": target.warehouse_id,
        "content_hash": row.content_hash,
        "last_synced_at": row.last_synced_at,
    }
