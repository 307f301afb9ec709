"""Ingest jobs (queue maintenance): the replay of rejected rows, deferred when what they
wait for appears (a mapping, an item or a warehouse), and the application of a full
snapshot, deferred with its last page (services/ingest/snapshots.py)."""

from __future__ import annotations

import procrastinate

from restosync.models.ingest import BlockedBy, Entity
from restosync.queue import QUEUE_MAINTENANCE, TASK_APPLY_SNAPSHOT, TASK_REPLAY_REJECTIONS
from restosync.services import ingest
from restosync.settings import Settings
from restosync.worker.resources import get_resources

ingest_tasks = procrastinate.Blueprint()
_, REPLAY_REJECTIONS = TASK_REPLAY_REJECTIONS.split(":")
_, APPLY_SNAPSHOT = TASK_APPLY_SNAPSHOT.split(":")


# A replay fails only when the database does (outage, or a rare deadlock with a push).
@ingest_tasks.task(
    name=REPLAY_REJECTIONS,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    retry=procrastinate.RetryStrategy(max_attempts=5, linear_wait=10),
)
async def replay_rejections(
    context: procrastinate.JobContext,
    vendor_id: str,
    blocked_by_type: BlockedBy,
    blocked_by_codes: list[str],
) -> int:
    """Re-run the vendor's rows rejected for these codes; how many landed."""
    settings: Settings = context.additional_context["settings"]
    resources = await get_resources(settings)
    result = await ingest.replay_rejections(
        resources.pool,
        resources.mappings,
        vendor_id,
        blocked_by_type=blocked_by_type,
        blocked_by_codes=blocked_by_codes,
    )
    return result.processed


# Idempotent: a retried job finds the snapshot no longer pending and does nothing.
@ingest_tasks.task(
    name=APPLY_SNAPSHOT,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    retry=procrastinate.RetryStrategy(max_attempts=5, linear_wait=10),
)
async def apply_snapshot(
    context: procrastinate.JobContext,
    vendor_id: str,
    entity: Entity,
    snapshot_id: str,
    correlation_id: str | None = None,
) -> int:
    """Retire the vendor's rows the snapshot lacked (or refuse to); how many were retired."""
    settings: Settings = context.additional_context["settings"]
    resources = await get_resources(settings)
    outcome = await ingest.apply_snapshot(
        resources.pool,
        resources.alerter,
        settings.SNAPSHOT_MAX_REMOVAL_SHARE,
        vendor_id=vendor_id,
        entity=entity,
        snapshot_id=snapshot_id,
    )
    return outcome.removed
