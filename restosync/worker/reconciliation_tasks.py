"""Reconciliation tasks (queue reconciliation): one vendor's run, and the hourly fan-out.

Run them with `procrastinate --app=restosync.worker.app worker --queues=reconciliation
--concurrency=$RECONCILIATION_CONCURRENCY` (the Procfile's `reconciler`).
"""

from __future__ import annotations

import procrastinate

from restosync.errors import RestosyncError
from restosync.logconfig import correlation_id_var
from restosync.queue import QUEUE_RECONCILIATION, TASK_DETECT_DRIFT, TASK_RECONCILE_VENDOR
from restosync.services import reconciliation, reconciliation_jobs
from restosync.settings import Settings
from restosync.worker.resources import get_resources

reconciliation_tasks = procrastinate.Blueprint()
_, RECONCILE_VENDOR = TASK_RECONCILE_VENDOR.split(":")
_, DETECT_DRIFT = TASK_DETECT_DRIFT.split(":")


class ReconciliationFailed(RestosyncError):
    """A reconciliation run ended with an error event (see reconciliation_events)."""

    code = "reconciliation_failed"
    title = "Reconciliation failed"


def _settings(context: procrastinate.JobContext) -> Settings:
    settings: Settings = context.additional_context["settings"]
    return settings


@reconciliation_tasks.task(name=RECONCILE_VENDOR, queue=QUEUE_RECONCILIATION, pass_context=True)
async def reconcile_vendor(
    context: procrastinate.JobContext, vendor_id: str, correlation_id: str | None = None
) -> int:
    """Reconcile one vendor; the drifted rows found (the job fails when a step failed)."""
    settings = _settings(context)
    resources = await get_resources(settings)
    outcome = await reconciliation.reconcile_vendor(
        resources.pool,
        resources.http,
        settings,
        resources.mappings,
        vendor_id,
        breakers=resources.breakers,
        alerter=resources.alerter,
        correlation_id=correlation_id or correlation_id_var.get(),
    )
    if outcome.failed or not outcome.entities:
        # The error event is written; failing the job shows it in procrastinate_jobs too.
        raise ReconciliationFailed(f"reconciliation of vendor {vendor_id} failed")
    return sum(entity.drifted for entity in outcome.entities)


@reconciliation_tasks.periodic(cron="0 * * * *", periodic_id=DETECT_DRIFT)
@reconciliation_tasks.task(
    name=DETECT_DRIFT, queue=QUEUE_RECONCILIATION, pass_context=True, queueing_lock=DETECT_DRIFT
)
async def detect_drift(context: procrastinate.JobContext, timestamp: int) -> int:
    """Hourly drift detection: defer one run per active vendor; how many were deferred."""
    resources = await get_resources(_settings(context))
    deferred = await reconciliation_jobs.defer_all_vendors(resources.pool, context.app)
    return sum(1 for run in deferred if run.job_id is not None)
