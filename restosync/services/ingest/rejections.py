"""Rejected rows: kept per key until they land, and replayed when what blocked them appears."""

from __future__ import annotations

from collections.abc import Sequence

from restosync import queue
from restosync.db import ingest as ingest_db
from restosync.db.pool import Connection, Pool, connection
from restosync.models.ingest import BlockedBy, Entity, RejectionFilter, RejectionView
from restosync.models.pagination import Page, PageMeta, PageQuery
from restosync.services.ingest.context import IngestContext
from restosync.services.ingest.pipeline import Outcome

# Rows of these entities landing can unblock stock rows waiting for them.
_UNBLOCKS: dict[Entity, BlockedBy] = {"items": "item", "warehouses": "warehouse"}


def replay_lock(vendor_id: str) -> str:
    """procrastinate lock of a vendor's replays: one at a time, in order."""
    return f"ingest-replay:{vendor_id}"


async def defer_replay(
    conn: Connection, vendor_id: str, blocked_by_type: BlockedBy, codes: Sequence[str]
) -> None:
    """Defer, in the caller's transaction, the replay of rows waiting for these codes."""
    await queue.app.configure_task(
        queue.TASK_REPLAY_REJECTIONS,
        connection=conn,
        queue=queue.QUEUE_MAINTENANCE,
        lock=replay_lock(vendor_id),
    ).defer_async(
        vendor_id=vendor_id, blocked_by_type=blocked_by_type, blocked_by_codes=list(codes)
    )


async def settle_rejections(ctx: IngestContext, entity: Entity, outcome: Outcome) -> None:
    """Record the failed rows (latest version per key), forget the ones that landed, and
    replay the stock rows that waited for the items or warehouses that landed.

    A replayed row that is now skipped is settled too: what is stored is that version
    or a newer one. A pushed row that is skipped says nothing about a rejected version.
    When the vendor has no rejected rows (the usual case), one probe stands for the
    statements that would look up each landed key.
    """
    blocked_by_type = _UNBLOCKS.get(entity)
    landed = bool(outcome.landed) or (ctx.replay and bool(outcome.skipped_keys))
    pending, waiting = (
        await ingest_db.pending_rejections(ctx.conn, ctx.vendor_id, entity, blocked_by_type)
        if landed
        else (False, False)
    )
    await _record_and_clear(ctx, entity, outcome, clear=pending)
    if waiting:
        await _defer_unblocked_replays(ctx, blocked_by_type, outcome)


async def _record_and_clear(
    ctx: IngestContext, entity: Entity, outcome: Outcome, *, clear: bool
) -> None:
    settled = {c.key for c in outcome.landed}
    if ctx.replay:
        settled.update(outcome.skipped_keys)
    latest = {r.key: r for r in outcome.rejections if r.key not in settled}
    rows = [
        {
            "row_key": r.key,
            "reason": r.reason,
            "detail": r.detail,
            "raw_row": r.raw,
            "blocked_by_type": r.blocked_by_type,
            "blocked_by_code": r.blocked_by_code,
        }
        for r in latest.values()
    ]
    await ingest_db.record_rejections(
        ctx.conn,
        vendor_id=ctx.vendor_id,
        entity=entity,
        rows=rows,
        correlation_id=ctx.correlation_id,
        count_as_seen=not ctx.replay,
    )
    if clear:
        await ingest_db.clear_rejections(ctx.conn, ctx.vendor_id, entity, sorted(settled))


async def _defer_unblocked_replays(
    ctx: IngestContext, blocked_by_type: BlockedBy | None, outcome: Outcome
) -> None:
    """Items or warehouses that landed: replay the stock rows that were waiting for them."""
    landed = [c.key for c in outcome.landed if not c.tombstone]
    if blocked_by_type is None or not landed:
        return
    waiting = await ingest_db.blocked_codes(ctx.conn, ctx.vendor_id, blocked_by_type, landed)
    if waiting:
        await defer_replay(ctx.conn, ctx.vendor_id, blocked_by_type, waiting)


async def list_rejections(
    pool: Pool, filters: RejectionFilter, page: PageQuery
) -> Page[RejectionView]:
    """Rejected rows and why, newest first."""
    async with connection(pool) as conn:
        views, total = await ingest_db.rejection_views(conn, filters, page)
    return Page[RejectionView](data=views, meta=PageMeta.of(page, total))
