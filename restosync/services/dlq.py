"""Admin of sync jobs and dead letters (SPEC §3.3, §6): read, resolve, retry (audited).

A retry creates a new sync job with the entry's payload and a new push job in its
vendor's lane, in the transaction that marks the entry `retried` (SQL function of
sql/0009): the job exists exactly when the entry says so. One entry is retried at most
once: the entry is locked, the marking UPDATE is conditional on `NOT resolved`, and
`retry_job_id` is unique; a second retry answers 409.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from restosync.db import dlq as dlq_db
from restosync.db.pool import Connection, Pool, connection, transaction
from restosync.errors import Conflict, NotFound
from restosync.models.dlq import (
    BulkRetry,
    BulkRetryResult,
    DlqEntry,
    DlqFilter,
    DlqRetried,
    SyncJobFilter,
    SyncJobStatusView,
    SyncJobView,
)
from restosync.models.pagination import Page, PageMeta, PageQuery
from restosync.services import audit
from restosync.services.audit import Actor
from restosync.settings import Settings

logger = logging.getLogger(__name__)


def _uuid(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(f"No {what} {value!r}.") from None


async def list_sync_jobs(pool: Pool, filters: SyncJobFilter, page: PageQuery) -> Page[SyncJobView]:
    """Sync jobs, newest first."""
    async with connection(pool) as conn:
        rows, total = await dlq_db.sync_jobs(conn, page, **filters.model_dump(by_alias=False))
    return Page[SyncJobView](data=rows, meta=PageMeta.of(page, total))


async def get_sync_job(pool: Pool, job_id: str) -> SyncJobView:
    """One sync job with its payload."""
    async with connection(pool) as conn:
        job = await dlq_db.sync_job(conn, _uuid(job_id, "sync job"))
    if job is None:
        raise NotFound(f"No sync job {job_id!r}.")
    return job


async def sync_status(pool: Pool, job_id: str) -> SyncJobStatusView:
    """Where one sync job stands."""
    job = await get_sync_job(pool, job_id)
    return SyncJobStatusView.model_validate(job.model_dump(by_alias=False))


async def list_entries(pool: Pool, filters: DlqFilter, page: PageQuery) -> Page[DlqEntry]:
    """Dead letters (open ones unless asked otherwise), oldest first."""
    async with connection(pool) as conn:
        rows, total = await dlq_db.entries(conn, page, **filters.model_dump(by_alias=False))
    return Page[DlqEntry](data=rows, meta=PageMeta.of(page, total))


async def get_entry(pool: Pool, entry_id: str) -> DlqEntry:
    """One dead letter."""
    async with connection(pool) as conn:
        return await _entry(conn, _uuid(entry_id, "dead letter"))


async def resolve_entry(pool: Pool, actor: Actor, entry_id: str) -> DlqEntry:
    """Close an open dead letter without re-running it (audited); 409 when not open."""
    key = _uuid(entry_id, "dead letter")
    async with transaction(pool) as conn:
        if not await dlq_db.resolve(conn, key, actor=actor.fingerprint):
            raise _not_open(await _entry(conn, key))
        await _audit(conn, actor, "dlq.resolve", str(key), {})
        return await _entry(conn, key)


async def retry_entry(pool: Pool, settings: Settings, actor: Actor, entry_id: str) -> DlqRetried:
    """Re-enqueue one open dead letter (audited); 409 when it was retried or resolved."""
    key = _uuid(entry_id, "dead letter")
    async with transaction(pool) as conn:
        retried = await dlq_db.retry(
            conn,
            actor=actor.fingerprint,
            max_attempts=settings.ORDER_SYNC_MAX_ATTEMPTS,
            correlation_id=actor.correlation_id,
            entry_id=key,
        )
        if not retried:
            raise _not_open(await _entry(conn, key))
        result = retried[0]
        await _audit(conn, actor, "dlq.retry", str(key), _retried_details(result))
    logger.info(
        "dead letter retried",
        extra={"dlq_entry_id": str(key), "sync_job_id": str(result.retry_job_id)},
    )
    return result


async def retry_entries(
    pool: Pool, settings: Settings, actor: Actor, selection: BulkRetry
) -> BulkRetryResult:
    """Re-enqueue every open dead letter matching the filters (one audit entry)."""
    async with transaction(pool) as conn:
        retried = await dlq_db.retry(
            conn,
            actor=actor.fingerprint,
            max_attempts=settings.ORDER_SYNC_MAX_ATTEMPTS,
            correlation_id=actor.correlation_id,
            **selection.model_dump(by_alias=False),
        )
        details = {
            "filter": selection.model_dump(mode="json", exclude_none=True),
            "retried": len(retried),
        }
        await _audit(conn, actor, "dlq.retry_bulk", None, details)
    logger.info("dead letters retried in bulk", extra={"retried": len(retried)})
    return BulkRetryResult(retried=len(retried), entries=retried)


async def _entry(conn: Connection, key: UUID) -> DlqEntry:
    found = await dlq_db.entry(conn, key)
    if found is None:
        raise NotFound(f"No dead letter {key}.")
    return found


def _not_open(entry: DlqEntry) -> Conflict:
    if entry.resolved:
        return Conflict(f"Dead letter {entry.id} was already {entry.resolution}.")
    # Open but locked by a concurrent retry or resolve: the other one wins.
    return Conflict(f"Dead letter {entry.id} is being retried or resolved right now.")


def _retried_details(result: DlqRetried) -> dict[str, Any]:
    return {
        "vendorId": result.vendor_id,
        "retryJobId": str(result.retry_job_id),
        "procrastinateJobId": result.procrastinate_job_id,
    }


async def _audit(
    conn: Connection, actor: Actor, action: str, target_id: str | None, details: dict[str, Any]
) -> None:
    await audit.record(
        conn,
        actor,
        action,
        target_type="dead_letter",
        target_id=target_id,
        details=details,
    )
