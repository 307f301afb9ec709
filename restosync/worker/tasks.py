"""Tasks: unpack arguments, call a service, nothing else."""

from __future__ import annotations

import procrastinate

from restosync.queue import (
    QUEUE_MAINTENANCE,
    TASK_AGENT_HEALTH,
    TASK_RECOVER_STALLED_JOBS,
    TASK_REQUEUE_CALLBACK_TIMEOUTS,  # orders (issue 5)
)
from restosync.services import (
    agent_health,
    maintenance,
    order_sync,  # orders (issue 5)
)
from restosync.settings import Settings
from restosync.worker.resources import get_resources

maintenance_tasks = procrastinate.Blueprint()
_, RECOVER_STALLED_JOBS = TASK_RECOVER_STALLED_JOBS.split(":")
_, AGENT_HEALTH = TASK_AGENT_HEALTH.split(":")


def _settings(context: procrastinate.JobContext) -> Settings:
    settings: Settings = context.additional_context["settings"]
    return settings


@maintenance_tasks.periodic(cron="* * * * *", periodic_id=RECOVER_STALLED_JOBS)
@maintenance_tasks.task(
    name=RECOVER_STALLED_JOBS,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    queueing_lock=RECOVER_STALLED_JOBS,
)
async def recover_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Retry the jobs left in `doing` by workers that stopped sending heartbeats."""
    stalled_seconds = _settings(context).WORKER_STALLED_SECONDS
    recovered = await maintenance.recover_stalled_jobs(context.app, stalled_seconds=stalled_seconds)
    return len(recovered)


@maintenance_tasks.periodic(cron="* * * * *", periodic_id=AGENT_HEALTH)
@maintenance_tasks.task(
    name=AGENT_HEALTH, queue=QUEUE_MAINTENANCE, pass_context=True, queueing_lock=AGENT_HEALTH
)
async def persist_agent_health(context: procrastinate.JobContext, timestamp: int) -> int:
    """Persist agent health transitions and alert on agents gone offline."""
    settings = _settings(context)
    resources = await get_resources(settings)
    transitions = await agent_health.persist_agent_health(
        resources.pool, settings, resources.alerter
    )
    return len(transitions)


# --- Orders: callback-timeout sweep (issue 5) ------------------------------------------
_, REQUEUE_CALLBACK_TIMEOUTS = TASK_REQUEUE_CALLBACK_TIMEOUTS.split(":")


@maintenance_tasks.periodic(cron="* * * * *", periodic_id=REQUEUE_CALLBACK_TIMEOUTS)
@maintenance_tasks.task(
    name=REQUEUE_CALLBACK_TIMEOUTS,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    queueing_lock=REQUEUE_CALLBACK_TIMEOUTS,
)
async def requeue_callback_timeouts(context: procrastinate.JobContext, timestamp: int) -> int:
    """Push again the orders whose agent did not call back in time (SQL function of sql/0008)."""
    resources = await get_resources(_settings(context))
    return len(await order_sync.requeue_callback_timeouts(resources.pool))
