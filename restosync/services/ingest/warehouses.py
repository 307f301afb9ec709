"""Warehouses: code uniqueness per vendor, then one upsert and one tombstone statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from psycopg.errors import UniqueViolation

from restosync.db import ingest as ingest_db
from restosync.errors import Conflict
from restosync.models.ingest import StoredVersion, WarehouseRow, WarehouseTombstone
from restosync.models.problem import ProblemFieldError
from restosync.services.ingest.context import (
    IngestContext,
    lookup_stored,
    settle_writes,
    stored_for,
)
from restosync.services.ingest.pipeline import Candidate, Outcome, check_stored


async def lookup_warehouses(
    ctx: IngestContext, keys: list[tuple[str, ...]]
) -> dict[str, StoredVersion | None]:
    """Stored versions of these warehouses (None when there is none), by ERP id."""
    return await lookup_stored(ctx, ingest_db.stored_warehouses, [erp_id for (erp_id,) in keys])


async def apply_warehouses(
    ctx: IngestContext,
    candidates: list[Candidate],
    outcome: Outcome,
    known: Mapping[str, StoredVersion | None],
) -> None:
    """Steps 5-8 for warehouses: stored versions (those not `known` yet), code conflicts, writes."""
    stored = await stored_for(ctx, ingest_db.stored_warehouses, candidates, known)
    survivors = check_stored(candidates, stored, outcome)
    upserts = await _without_code_conflicts([c for c in survivors if not c.tombstone], ctx, outcome)
    tombstones = [c for c in survivors if c.tombstone]
    if tombstones:
        locked = sorted(c.key for c in (*upserts, *tombstones) if c.key in stored)
        await ingest_db.lock_rows(
            ctx.conn, "lock_warehouses", {"vendor_id": ctx.vendor_id, "keys": locked}
        )
    try:
        written = await ingest_db.write_rows(
            ctx.conn, "upsert_warehouses", ctx.vendor_id, [_record(c) for c in upserts]
        )
    except UniqueViolation:
        # Only a concurrent push can get here (codes were checked above): let it resend.
        raise Conflict("A concurrent push changed this vendor's warehouse codes; resend.") from None
    retired = await ingest_db.write_rows(
        ctx.conn, "retire_warehouses", ctx.vendor_id, [_tombstone_record(c) for c in tombstones]
    )
    await settle_writes(
        upserts + tombstones,
        {row["erp_warehouse_id"] for row in (*written, *retired)},
        outcome,
        lambda missed: ingest_db.stored_warehouses(
            ctx.conn, ctx.vendor_id, [c.key for c in missed]
        ),
    )


async def _without_code_conflicts(
    rows: list[Candidate], ctx: IngestContext, outcome: Outcome
) -> list[Candidate]:
    """Codes are unique per vendor: a row whose code another warehouse has (stored or in
    this request) fails as invalid instead of failing the whole transaction."""
    claims: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in rows:
        claims[_warehouse(candidate).code].append(candidate)
    holders = await ingest_db.warehouse_code_holders(ctx.conn, ctx.vendor_id, sorted(claims))
    kept: list[Candidate] = []
    for code, claimants in claims.items():
        holder = holders.get(code)
        for candidate in claimants:
            others = [c.key for c in claimants if c is not candidate]
            if holder is not None and holder != candidate.key:
                others.append(holder)
            if others:
                msg = f"code {code!r} is already used by warehouse {others[0]!r}"
                errors = [ProblemFieldError(loc=["code"], msg=msg)]
                outcome.invalid(candidate.index, candidate.key, candidate.raw, errors)
            else:
                kept.append(candidate)
    return sorted(kept, key=lambda c: c.key)


def _warehouse(candidate: Candidate) -> WarehouseRow:
    assert isinstance(candidate.row, WarehouseRow)
    return candidate.row


def _record(candidate: Candidate) -> dict[str, Any]:
    return _warehouse(candidate).model_dump(by_alias=False, exclude={"deleted"})


def _tombstone_record(candidate: Candidate) -> dict[str, Any]:
    row = candidate.row
    assert isinstance(row, WarehouseTombstone)
    return {
        "erp_warehouse_id": row.erp_warehouse_id,
        "content_hash": row.content_hash,
        "last_synced_at": row.last_synced_at,
    }
