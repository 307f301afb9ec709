"""Tasks: unpack arguments, call a service, nothing else."""

from __future__ import annotations

import procrastinate

from restosync.queue import QUEUE_MAINTENANCE, TASK_RECOVER_STALLED_JOBS
from restosync.services import maintenance

maintenance_tasks = procrastinate.Blueprint()
_, RECOVER_STALLED_JOBS = TASK_RECOVER_STALLED_JOBS.split(":")


@maintenance_tasks.periodic(cron="* * * * *", periodic_id=RECOVER_STALLED_JOBS)
@maintenance_tasks.task(
    name=RECOVER_STALLED_JOBS,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    queueing_lock=RECOVER_STALLED_JOBS,
)
async def recover_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Retry the jobs left in `doing` by workers that stopped sending heartbeats."""
    stalled_seconds = context.additional_context["settings"].WORKER_STALLED_SECONDS
    recovered = await maintenance.recover_stalled_jobs(context.app, stalled_seconds=stalled_seconds)
    return len(recovered)
