"""Housekeeping of the queue itself."""

from __future__ import annotations

import logging

import procrastinate

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
