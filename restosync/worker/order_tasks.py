"""The order push task (queue order-sync) and the retry policy that reads its outcome.

The task is deferred by `restosync.services.orders` with the lock `vendor:<id>`, and
again by the callback-timeout sweep (sql/0008): procrastinate runs at most one job per
lock at a time and never one before an earlier job of the same lock, so each vendor's
pushes are sequential and in order, while other vendors' proceed. A job waiting for its
retry keeps its place at the head of its vendor's lane.

Neither releasing a lock nor scheduling a retry sends a NOTIFY: a vendor's next job, or
a retry coming due, is picked up by the worker's polling (WORKER_POLL_SECONDS).
"""

from __future__ import annotations

import asyncio

import procrastinate
from procrastinate.exceptions import JobAborted
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from restosync.queue import QUEUE_ORDER_SYNC, TASK_PUSH_ORDER
from restosync.services import order_sync
from restosync.settings import Settings
from restosync.worker.resources import get_resources

order_tasks = procrastinate.Blueprint()
_, PUSH_ORDER = TASK_PUSH_ORDER.split(":")


class PushRetryStrategy(BaseRetryStrategy):
    """Retry exactly when the service asks to (`RetryPush`), or when the worker shuts down.

    Every other exception fails the job for good, which dead-letters it (sql/0008): the
    service raises `PushFailed` for permanent failures and spent attempts. The lock is
    kept, so a job waiting for its retry still holds back its vendor's later jobs.
    """

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """When to run the job again, or None to fail it for good."""
        if isinstance(exception, order_sync.RetryPush):
            return RetryDecision(retry_at=exception.retry_at)
        if isinstance(exception, asyncio.CancelledError | JobAborted):
            # Interrupted by a worker shutdown: nothing is known of the call, push again.
            return RetryDecision(retry_in={"seconds": 0})
        return None


def _settings(context: procrastinate.JobContext) -> Settings:
    settings: Settings = context.additional_context["settings"]
    return settings


@order_tasks.task(
    name=PUSH_ORDER, queue=QUEUE_ORDER_SYNC, pass_context=True, retry=PushRetryStrategy()
)
async def push_order(
    context: procrastinate.JobContext, sync_job_id: str, correlation_id: str | None = None
) -> str:
    """Push one sync job's order to its vendor's agent (one attempt per run)."""
    settings = _settings(context)
    resources = await get_resources(settings)
    outcome = await order_sync.push_order(
        resources.pool,
        resources.http,
        settings,
        sync_job_id,
        context.job.id,
        breakers=resources.breakers,
        alerter=resources.alerter,
    )
    return outcome.value
