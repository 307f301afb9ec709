"""The replay of rejected ingest rows (queue maintenance), deferred when what they wait
for appears: a mapping (services/mappings.py), an item or a warehouse (services/ingest)."""

from __future__ import annotations

import procrastinate

from restosync.models.ingest import BlockedBy
from restosync.queue import QUEUE_MAINTENANCE, TASK_REPLAY_REJECTIONS
from restosync.services import ingest
from restosync.settings import Settings
from restosync.worker.resources import get_resources

ingest_tasks = procrastinate.Blueprint()
_, REPLAY_REJECTIONS = TASK_REPLAY_REJECTIONS.split(":")


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
