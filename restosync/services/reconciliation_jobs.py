"""Reconciliation runs as queue jobs (SPEC §6, §3.3): deferring them, and the event log.

A run of a vendor is the job `reconciliation:reconcile_vendor` on queue `reconciliation`,
with the vendor's `reconciliation_lock` as lock (one run at a time per vendor) and as
queueing lock (at most one waiting): deferring while one waits defers nothing and
answers `jobId: null`. Hourly, and on an admin trigger without a vendor, every active
vendor (agent registered, not deregistered) gets one.
"""

from __future__ import annotations

import logging

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from restosync import queue
from restosync.db import reconciliation as reconciliation_db
from restosync.db.pool import Connection, Pool, connection, transaction
from restosync.errors import InvalidInput, NotFound
from restosync.models.pagination import Page, PageMeta, PageQuery
from restosync.models.reconciliation import (
    DeferredRun,
    EventFilter,
    ReconciliationEvent,
    TriggerReconciliation,
    TriggerResult,
)
from restosync.services import audit
from restosync.services.audit import Actor

logger = logging.getLogger(__name__)


async def defer_runs(
    conn: Connection,
    queue_app: procrastinate.App,
    vendor_ids: list[str],
    correlation_id: str | None = None,
) -> list[DeferredRun]:
    """Defer one run per vendor in the caller's transaction (none when one is waiting)."""
    deferred = []
    for vendor_id in vendor_ids:
        lock = queue.reconciliation_lock(vendor_id)
        job_id: int | None
        try:
            # A savepoint: a refused queueing lock must not abort the caller's transaction.
            async with conn.transaction():
                job_id = await queue_app.configure_task(
                    queue.TASK_RECONCILE_VENDOR,
                    connection=conn,
                    queue=queue.QUEUE_RECONCILIATION,
                    lock=lock,
                    queueing_lock=lock,
                ).defer_async(vendor_id=vendor_id, correlation_id=correlation_id)
        except AlreadyEnqueued:
            job_id = None
        deferred.append(DeferredRun(vendor_id=vendor_id, job_id=job_id))
    return deferred


async def defer_all_vendors(pool: Pool, queue_app: procrastinate.App) -> list[DeferredRun]:
    """The hourly drift detection: one run per active vendor."""
    async with transaction(pool) as conn:
        deferred = await defer_runs(conn, queue_app, await reconciliation_db.active_vendors(conn))
    logger.info(
        "reconciliation runs deferred",
        extra={"vendors": len(deferred), "deferred": sum(1 for d in deferred if d.job_id)},
    )
    return deferred


async def trigger(
    pool: Pool, queue_app: procrastinate.App, actor: Actor, request: TriggerReconciliation
) -> TriggerResult:
    """An admin's run now: of one vendor, or of every active vendor (audited)."""
    async with transaction(pool) as conn:
        active = await reconciliation_db.active_vendors(conn)
        vendor_ids = active
        if request.vendor_id is not None:
            await _check_active(conn, request.vendor_id, active)
            vendor_ids = [request.vendor_id]
        deferred = await defer_runs(conn, queue_app, vendor_ids, actor.correlation_id)
        await audit.record(
            conn,
            actor,
            "reconciliation.trigger",
            target_type="vendor" if request.vendor_id else None,
            target_id=request.vendor_id,
            details={
                "vendorIds": vendor_ids[:100],
                "deferred": sum(1 for d in deferred if d.job_id is not None),
            },
        )
    return TriggerResult(deferred=deferred)


async def _check_active(conn: Connection, vendor_id: str, active: list[str]) -> None:
    if vendor_id in active:
        return
    known = await reconciliation_db.target(
        conn, vendor_id, degraded_seconds=1.0, offline_seconds=1.0
    )
    if known is None:
        raise NotFound(f"No agent is registered for vendor {vendor_id!r}.")
    raise InvalidInput(f"The agent of vendor {vendor_id!r} is deregistered: nothing to call.")


async def list_events(
    pool: Pool, filters: EventFilter, page: PageQuery
) -> Page[ReconciliationEvent]:
    """The reconciliation log, newest first."""
    async with connection(pool) as conn:
        rows, total = await reconciliation_db.events(
            conn, page, vendor_id=filters.vendor_id, event_type=filters.event_type
        )
    return Page[ReconciliationEvent](data=rows, meta=PageMeta.of(page, total))
