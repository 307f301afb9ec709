"""Tasks: unpack arguments, call a service, nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import procrastinate
from procrastinate.periodic import PeriodicTask

from restosync.errors import ConfigurationError
from restosync.queue import (
    QUEUE_MAINTENANCE,
    TASK_AGENT_HEALTH,
    TASK_CLEANUP_RECONCILIATION_EVENTS,  # maintenance (issue 6)
    TASK_CLEANUP_RESOLVED_DLQ,  # maintenance (issue 6)
    TASK_CLEANUP_SYNC_JOBS,  # maintenance (issue 6)
    TASK_DLQ_ALERT,  # maintenance (issue 6)
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


# --- Maintenance: retention, the DLQ alert, schedules (issue 6) -------------------------
# SPEC §6 schedules; PERIODIC_SCHEDULES replaces any of them by periodic id. One tick runs
# once however many workers are up: procrastinate_periodic_defers is unique on (task,
# periodic_id, timestamp), so only one worker's deferral of a tick creates a job.
_, DLQ_ALERT = TASK_DLQ_ALERT.split(":")
_, CLEANUP_SYNC_JOBS = TASK_CLEANUP_SYNC_JOBS.split(":")
_, CLEANUP_RECONCILIATION_EVENTS = TASK_CLEANUP_RECONCILIATION_EVENTS.split(":")
_, CLEANUP_RESOLVED_DLQ = TASK_CLEANUP_RESOLVED_DLQ.split(":")


@maintenance_tasks.periodic(cron="*/15 * * * *", periodic_id=DLQ_ALERT)
@maintenance_tasks.task(
    name=DLQ_ALERT, queue=QUEUE_MAINTENANCE, pass_context=True, queueing_lock=DLQ_ALERT
)
async def alert_open_dead_letters(context: procrastinate.JobContext, timestamp: int) -> int:
    """Raise `dlq_entries_found` for each vendor with unresolved dead letters."""
    resources = await get_resources(_settings(context))
    return len(await maintenance.alert_open_dead_letters(resources.pool, resources.alerter))


@maintenance_tasks.periodic(cron="0 2 * * *", periodic_id=CLEANUP_SYNC_JOBS)
@maintenance_tasks.task(
    name=CLEANUP_SYNC_JOBS,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    queueing_lock=CLEANUP_SYNC_JOBS,
)
async def cleanup_sync_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Delete expired sync jobs and finished queue jobs (never live or dead-lettered work)."""
    settings = _settings(context)
    resources = await get_resources(settings)
    return (await maintenance.cleanup_sync_jobs(resources.pool, settings)).sync_jobs


@maintenance_tasks.periodic(cron="0 3 * * 0", periodic_id=CLEANUP_RECONCILIATION_EVENTS)
@maintenance_tasks.task(
    name=CLEANUP_RECONCILIATION_EVENTS,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    queueing_lock=CLEANUP_RECONCILIATION_EVENTS,
)
async def cleanup_reconciliation_events(context: procrastinate.JobContext, timestamp: int) -> int:
    """Delete reconciliation events past their retention."""
    settings = _settings(context)
    resources = await get_resources(settings)
    return await maintenance.cleanup_reconciliation_events(resources.pool, settings)


@maintenance_tasks.periodic(cron="0 4 * * 6", periodic_id=CLEANUP_RESOLVED_DLQ)
@maintenance_tasks.task(
    name=CLEANUP_RESOLVED_DLQ,
    queue=QUEUE_MAINTENANCE,
    pass_context=True,
    queueing_lock=CLEANUP_RESOLVED_DLQ,
)
async def cleanup_resolved_dlq(context: procrastinate.JobContext, timestamp: int) -> int:
    """Delete dead letters resolved longer ago than their retention."""
    settings = _settings(context)
    resources = await get_resources(settings)
    return await maintenance.cleanup_resolved_dlq(resources.pool, settings)


# The crons the tasks were registered with, kept before any override replaces them.
_registered_crons: dict[tuple[str, str], str] = {}


def check_schedules(app: procrastinate.App, schedules: Mapping[str, str]) -> None:
    """ConfigurationError unless every id is a periodic task's and every cron parses."""
    _schedules_for(app, schedules)


def apply_schedules(app: procrastinate.App, schedules: Mapping[str, str]) -> None:
    """Give the App's periodic tasks the crons of PERIODIC_SCHEDULES, their own otherwise."""
    # Every cron is parsed before any is replaced: a bad one changes nothing.
    app.periodic_registry.periodic_tasks.update(_schedules_for(app, schedules))


def _schedules_for(
    app: procrastinate.App, schedules: Mapping[str, str]
) -> dict[tuple[str, str], PeriodicTask[Any, Any, Any]]:
    registry = app.periodic_registry.periodic_tasks
    for key, periodic_task in registry.items():
        _registered_crons.setdefault(key, periodic_task.cron)
    known = {periodic_id for _, periodic_id in registry}
    unknown = sorted(set(schedules) - known)
    if unknown:
        raise ConfigurationError(
            f"PERIODIC_SCHEDULES: unknown periodic id {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    return {
        key: _with_cron(periodic_task, schedules.get(key[1], _registered_crons[key]))
        for key, periodic_task in registry.items()
    }


def _with_cron(
    periodic_task: PeriodicTask[Any, Any, Any], cron: str
) -> PeriodicTask[Any, Any, Any]:
    scheduled: PeriodicTask[Any, Any, Any] = PeriodicTask(
        task=periodic_task.task,
        cron=cron,
        periodic_id=periodic_task.periodic_id,
        configure_kwargs=periodic_task.configure_kwargs,
    )
    try:
        scheduled.croniter  # noqa: B018 - parses the cron now, not at the first tick
    except ValueError:
        raise ConfigurationError(
            f"PERIODIC_SCHEDULES: {periodic_task.periodic_id}: invalid cron {cron!r}"
        ) from None
    return scheduled


# --- end of maintenance ----------------------------------------------------------------
