"""Worker middleware: every log line of a job carries its correlation id."""

from __future__ import annotations

from typing import Any

import procrastinate
from procrastinate.middleware import AsyncCallNext

from restosync.logconfig import correlation


async def bind_correlation_id(
    call_next: AsyncCallNext, context: procrastinate.JobContext, worker: Any
) -> Any:
    """Run the job with the correlation id it was deferred with (or one naming the job)."""
    job = context.job
    candidate = job.task_kwargs.get("correlation_id") or f"job-{job.id}"
    with correlation(str(candidate)):
        return await call_next()
