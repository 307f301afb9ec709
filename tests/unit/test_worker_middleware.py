"""Jobs run with the correlation id they were deferred with."""

from __future__ import annotations

from typing import Any

import procrastinate
from procrastinate.jobs import Job
from procrastinate.testing import InMemoryConnector

from restosync.logconfig import correlation_id_var
from restosync.worker.middleware import bind_correlation_id


def _context(**task_kwargs: Any) -> procrastinate.JobContext:
    job = Job(
        id=7,
        queue="order-sync",
        lock=None,
        queueing_lock=None,
        task_name="t",
        task_kwargs=task_kwargs,
    )
    app = procrastinate.App(connector=InMemoryConnector())
    return procrastinate.JobContext(
        app=app, job=job, start_timestamp=0.0, abort_reason=lambda: None
    )


async def _seen() -> str | None:
    return correlation_id_var.get()


async def test_the_deferred_correlation_id_is_bound() -> None:
    assert await bind_correlation_id(_seen, _context(correlation_id="req-1"), None) == "req-1"


async def test_a_job_without_one_is_named_after_itself() -> None:
    assert await bind_correlation_id(_seen, _context(), None) == "job-7"
    assert correlation_id_var.get() is None
