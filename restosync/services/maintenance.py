"""Housekeeping: the queue itself (stalled jobs), retention (SPEC §6), the DLQ alert."""

from __future__ import annotations

import logging

import procrastinate

from restosync.db import maintenance as maintenance_db  # retention (issue 6)
from restosync.db.maintenance import OpenDeadLetters, SyncJobCleanup
from restosync.db.pool import Pool, connection, transaction
from restosync.models.alerts import Alert, AlertType
from restosync.queue import QUEUE_MAINTENANCE, QUEUE_RECONCILIATION
from restosync.services.alerts import Alerter
from restosync.settings import Settings

# Queues whose finished jobs are pruned by age; order-sync jobs go with their sync_jobs.
PRUNED_QUEUES = (QUEUE_MAINTENANCE, QUEUE_RECONCILIATION)

logger = logging.getLogger(__name__)


async def recover_stalled_jobs(app: procrastinate.App, *, stalled_seconds: float) -> list[int]:
    """Put back to `todo` the `doing` jobs of workers whose heartbeat stopped; return their ids.

    procrastinate records worker heartbeats but leaves a killed worker's jobs in `doing`
    forever; their per-vendor lock would also block every later job of that vendor.
    """
    recovered: list[int] = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds):
        assert job.id is not None
        try:
            await app.job_manager.retry_job(job)
        except procrastinate.exceptions.ConnectorException:
            # Finished or retried meanwhile by someone else: nothing to recover.
            logger.info("stalled job %s changed state before recovery", job.id)
            continue
        recovered.append(job.id)
        logger.warning(
            "recovered stalled job",
            extra={"job_id": job.id, "task_name": job.task_name, "queue": job.queue},
        )
    return recovered


# --- Retention and the DLQ alert (issue 6) ------------------------------------------
# Each runs one SQL function of sql/0013 in its own transaction; a DBA may run the same
# functions by hand (docs/operations.md, "Periodic work and retention").


async def cleanup_sync_jobs(pool: Pool, settings: Settings) -> SyncJobCleanup:
    """Delete expired sync jobs with their queue jobs, and old finished maintenance jobs."""
    async with transaction(pool) as conn:
        cleanup = await maintenance_db.cleanup_sync_jobs(
            conn,
            completed_seconds=settings.SYNC_JOB_RETENTION_COMPLETED_SECONDS,
            failed_seconds=settings.SYNC_JOB_RETENTION_FAILED_SECONDS,
        )
        pruned = await maintenance_db.prune_finished_queue_jobs(
            conn,
            older_than_seconds=settings.QUEUE_JOB_RETENTION_SECONDS,
            queues=PRUNED_QUEUES,
        )
    logger.info(
        "sync jobs cleaned up",
        extra={
            "sync_jobs_deleted": cleanup.sync_jobs,
            "push_jobs_deleted": cleanup.queue_jobs,
            "queue_jobs_pruned": pruned,
        },
    )
    return SyncJobCleanup(cleanup.sync_jobs, cleanup.queue_jobs + pruned)


async def cleanup_reconciliation_events(pool: Pool, settings: Settings) -> int:
    """Delete reconciliation events past their retention; return how many."""
    async with transaction(pool) as conn:
        deleted = await maintenance_db.cleanup_reconciliation_events(
            conn, older_than_seconds=settings.RECONCILIATION_EVENT_RETENTION_SECONDS
        )
    logger.info("reconciliation events cleaned up", extra={"deleted": deleted})
    return deleted


async def cleanup_resolved_dlq(pool: Pool, settings: Settings) -> int:
    """Delete dead letters resolved longer ago than their retention; return how many."""
    async with transaction(pool) as conn:
        deleted = await maintenance_db.cleanup_resolved_dlq(
            conn, older_than_seconds=settings.DLQ_RESOLVED_RETENTION_SECONDS
        )
    logger.info("resolved dead letters cleaned up", extra={"deleted": deleted})
    return deleted


async def alert_open_dead_letters(pool: Pool, alerter: Alerter) -> list[OpenDeadLetters]:
    """Raise `dlq_entries_found` per vendor with unresolved dead letters (cooldown applies)."""
    async with connection(pool) as conn:
        open_letters = await maintenance_db.open_dead_letters(conn)
    for vendor in open_letters:
        await alerter.raise_alert(
            Alert(
                type=AlertType.DLQ_ENTRIES_FOUND,
                vendor_id=vendor.vendor_id,
                summary=f"{vendor.open_entries} unresolved dead letter(s) for vendor "
                f"{vendor.vendor_id}.",
                details={
                    "openEntries": vendor.open_entries,
                    "oldestCreatedAt": vendor.oldest_created_at.isoformat(),
                },
            )
        )
    return open_letters


# --- end of retention ---------------------------------------------------------------
