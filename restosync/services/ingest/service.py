"""Ingest entry points: a push (one transaction, SPEC §4.1) and the replay of rejections."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar

import psycopg

from restosync.db import audit as audit_db
from restosync.db import ingest as ingest_db
from restosync.db.pool import Connection, Pool, connection, transaction
from restosync.models.ingest import (
    BlockedBy,
    Entity,
    Mode,
    PushAnswer,
    ReplayRequest,
    ReplayResult,
    SnapshotPage,
    StoredVersion,
)
from restosync.services.audit import Actor
from restosync.services.ingest.context import CodeResolver, IngestContext
from restosync.services.ingest.items import apply_items, lookup_items
from restosync.services.ingest.pipeline import (
    SPECS,
    Candidate,
    Outcome,
    drop_duplicates,
    peek_rows,
    skip_unchanged,
    validate_rows,
)
from restosync.services.ingest.rejections import settle_rejections
from restosync.services.ingest.snapshots import check_page, complete, page_keys
from restosync.services.ingest.stock import apply_stock, lookup_stock
from restosync.services.ingest.warehouses import apply_warehouses, lookup_warehouses

logger = logging.getLogger(__name__)

Found = TypeVar("Found")


@dataclass(frozen=True, slots=True)
class EntitySteps(Generic[Found]):
    """The steps of one entity that need the database: lookup by key, then the writes."""

    lookup: Callable[[IngestContext, list[tuple[str, ...]]], Awaitable[dict[str, Found]]]
    version: Callable[[Found], StoredVersion | None]  # the stored version in a lookup
    apply: Callable[[IngestContext, list[Candidate], Outcome, Mapping[str, Found]], Awaitable[None]]


def _same(version: StoredVersion | None) -> StoredVersion | None:
    return version


_STEPS: dict[Entity, EntitySteps[Any]] = {
    "items": EntitySteps(lookup_items, _same, apply_items),
    "stock": EntitySteps(lookup_stock, attrgetter("stored"), apply_stock),
    "warehouses": EntitySteps(lookup_warehouses, _same, apply_warehouses),
}
# Replays run what others wait for first: stock rows may wait for items and warehouses.
_REPLAY_ORDER: tuple[Entity, ...] = ("warehouses", "items", "stock")


@dataclass(frozen=True, slots=True)
class Push:
    """One authenticated push of rows, as read from the request."""

    vendor_id: str
    entity: Entity
    mode: Mode
    rows: list[Any]
    body_bytes: int
    dry_run: bool = False
    correlation_id: str | None = None
    may_contain_nul: bool = False
    snapshot: SnapshotPage | None = None  # a page of a full snapshot (batch mode only)


async def run_rows(
    ctx: IngestContext, entity: Entity, raw_rows: list[Any], *, check_nul: bool = False
) -> Outcome:
    """The whole pipeline for some raw rows of one entity, inside the caller's transaction."""
    spec, steps = SPECS[entity], _STEPS[entity]
    outcome = Outcome(len(raw_rows))
    # Unchanged rows are found before validation: a resend costs little more than a lookup.
    peeks = [] if check_nul else peek_rows(spec, raw_rows)
    known = await steps.lookup(ctx, [p.parts for p in peeks]) if peeks else {}
    stored = {key: steps.version(found) for key, found in known.items()}
    done = skip_unchanged(peeks, stored, outcome)
    valid = validate_rows(spec, raw_rows, outcome, check_nul=check_nul, done=done)
    await steps.apply(ctx, drop_duplicates(valid, outcome), outcome, known)
    await settle_rejections(ctx, entity, outcome)
    return outcome


async def ingest_push(pool: Pool, resolver: CodeResolver, push: Push) -> PushAnswer:
    """Run a push in one transaction (rolled back for a dry run); the per-row answer."""
    started = time.perf_counter()
    page = push.snapshot
    async with connection(pool) as conn, conn.transaction() as tx:
        resent = page is not None and await check_page(conn, push.vendor_id, push.entity, page)
        ctx = IngestContext(conn, push.vendor_id, resolver, push.correlation_id)
        outcome = await run_rows(ctx, push.entity, push.rows, check_nul=push.may_contain_nul)
        result = outcome.answer()
        await _record_batch(conn, push, outcome, result, started)
        if page is not None and page.last and not resent:
            await complete(conn, push.vendor_id, push.entity, page, push.correlation_id)
        if push.dry_run:
            raise psycopg.Rollback(tx)
    logger.info(
        "ingest push",
        extra={
            "vendor_id": push.vendor_id,
            "entity": push.entity,
            "mode": push.mode,
            "received": outcome.received,
            "processed": result.processed,
            "skipped": result.skipped,
            "failed": result.failed,
            "dry_run": push.dry_run,
            "snapshot_id": page.id if page else None,
            "snapshot_page": page.page if page else None,
            "snapshot_last": page.last if page else None,
        },
    )
    return result


async def _record_batch(
    conn: Connection, push: Push, outcome: Outcome, result: PushAnswer, started: float
) -> None:
    page = push.snapshot
    await ingest_db.record_batch(
        conn,
        vendor_id=push.vendor_id,
        entity=push.entity,
        mode=push.mode,
        received_count=outcome.received,
        processed_count=result.processed,
        skipped_count=result.skipped,
        failed_count=result.failed,
        bytes=push.body_bytes,
        duration_ms=round((time.perf_counter() - started) * 1000),
        correlation_id=push.correlation_id,
        snapshot_id=page.id if page else None,
        snapshot_page=page.page if page else None,
        snapshot_last=page.last if page else None,
        snapshot_keys=page_keys(outcome) if page else None,
    )


async def replay_rejections(
    pool: Pool,
    resolver: CodeResolver,
    vendor_id: str,
    *,
    blocked_by_type: BlockedBy | None = None,
    blocked_by_codes: list[str] | None = None,
    correlation_id: str | None = None,
) -> ReplayResult:
    """Re-run, in one transaction, the vendor's rows rejected for these blockers."""
    async with transaction(pool) as conn:
        ctx = IngestContext(conn, vendor_id, resolver, correlation_id, replay=True)
        return await _replay(ctx, blocked_by_type=blocked_by_type, codes=blocked_by_codes)


async def replay_for_admin(
    pool: Pool, resolver: CodeResolver, actor: Actor, request: ReplayRequest
) -> ReplayResult:
    """Re-run a vendor's rejected rows now (of one entity, or all), audited."""
    async with transaction(pool) as conn:
        ctx = IngestContext(conn, request.vendor_id, resolver, actor.correlation_id, replay=True)
        result = await _replay(ctx, entity=request.entity)
        await audit_db.record(
            conn,
            actor=actor.fingerprint,
            correlation_id=actor.correlation_id,
            action="rejections.replay",
            target_type="vendor",
            target_id=request.vendor_id,
            details={
                "entity": request.entity,
                **result.model_dump(by_alias=False, exclude={"vendor_id"}),
            },
        )
    return result


async def _replay(
    ctx: IngestContext,
    *,
    entity: Entity | None = None,
    blocked_by_type: BlockedBy | None = None,
    codes: list[str] | None = None,
) -> ReplayResult:
    rejected = await ingest_db.rejections_to_replay(
        ctx.conn, ctx.vendor_id, entity=entity, blocked_by_type=blocked_by_type, codes=codes
    )
    counts = {"processed": 0, "skipped": 0, "failed": 0}
    for name in _REPLAY_ORDER:
        rows = [r.raw_row for r in rejected if r.entity == name]
        if rows:
            result = (await run_rows(ctx, name, rows)).result()
            counts["processed"] += result.processed
            counts["skipped"] += result.skipped
            counts["failed"] += result.failed
    logger.info(
        "ingest replay",
        extra={"vendor_id": ctx.vendor_id, "replayed": len(rejected), **counts},
    )
    return ReplayResult(vendor_id=ctx.vendor_id, replayed=len(rejected), **counts)
