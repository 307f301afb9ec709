"""Pushing orders to vendor agents (SPEC §1 outbound, §5.3, §6): one attempt per run.

The queue job `orders:push_order` (queue order-sync, lock `vendor:<id>`: one push in
flight per vendor, FIFO per vendor) runs `push_order` and reads its outcome:

- it returns: this job is done (ERP reference received, callback awaited, or nothing
  left to do because the sync job moved on);
- it raises `RetryPush`: run the same job again at `retry_at` (a transient failure, or
  the agent is offline: then no call is made and no attempt is used);
- it raises `PushFailed`: the job fails for good, and the trigger of sql/0008 writes the
  dead letter and marks the sync job `dead` in the same transaction.

Attempts are counted in `sync_jobs.attempts` before each call, so a worker killed
mid-call leaves the attempt counted and the job in `processing`; the stalled-job
recovery then runs it again, with the same Idempotency-Key (the sync job id).
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from restosync.db import sync_jobs as sync_jobs_db
from restosync.db.pool import Pool, connection, transaction
from restosync.db.sync_jobs import PushTarget, SweepResult
from restosync.errors import DatabaseUnavailable, RestosyncError
from restosync.logconfig import correlation_id_var, new_correlation_id
from restosync.outbound import agents
from restosync.outbound.agents import AgentResponse, HttpSession
from restosync.queue import QUEUE_ORDER_SYNC, TASK_PUSH_ORDER
from restosync.services.alerts import Alerter
from restosync.services.breakers import API_CREATE_ORDER, BreakerOpen, BreakerRegistry
from restosync.settings import Settings

logger = logging.getLogger(__name__)

# Live health in which no call is made (SPEC §5.2: calls to an offline agent fail fast).
UNREACHABLE = frozenset({"offline", "deregistered", "unregistered"})
TRANSIENT_STATUSES = frozenset({408, 429})
DEFAULT_ERP_STATUS = "created"


class RetryPush(RestosyncError):
    """The push is to be tried again later."""

    code = "push_retry"
    title = "Push retried later"

    def __init__(self, detail: str, *, retry_at: datetime) -> None:
        super().__init__(detail)
        self.retry_at = retry_at


class PushFailed(RestosyncError):
    """The push failed for good."""

    code = "push_failed"
    title = "Push failed"


class PushOutcome(StrEnum):
    """How a run of the push job ended without a retry or a failure."""

    COMPLETED = "completed"
    AWAITING_CALLBACK = "awaiting_callback"
    NOTHING_TO_DO = "nothing_to_do"


class VerdictKind(StrEnum):
    """What an agent's answer means for the push."""

    COMPLETED = "completed"
    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Verdict:
    """An agent's answer, classified."""

    kind: VerdictKind
    message: str = ""
    erp_reference: str | None = None
    erp_status: str | None = None
    detail: str | None = None


def classify(response: AgentResponse) -> Verdict:
    """200 with an erpReference: done; 202: callback follows; timeouts, connection errors,
    408, 429 and 5xx: transient; any other answer: permanent (SPEC §1)."""
    status = response.status
    if status is None:
        return Verdict(VerdictKind.TRANSIENT, f"agent unreachable: {response.error}")
    if status == 202:
        return Verdict(VerdictKind.ACCEPTED)
    if 200 <= status < 300:
        body = response.body or {}
        reference = body.get("erpReference")
        if isinstance(reference, str) and reference.strip():
            erp_status = body.get("erpStatus")
            return Verdict(
                VerdictKind.COMPLETED,
                erp_reference=reference.strip()[:255],
                erp_status=erp_status[:100] if isinstance(erp_status, str) else None,
            )
        return Verdict(
            VerdictKind.PERMANENT,
            f"agent answered HTTP {status} without an erpReference",
            detail=response.excerpt,
        )
    if status in TRANSIENT_STATUSES or status >= 500:
        return Verdict(
            VerdictKind.TRANSIENT, f"agent answered HTTP {status}", detail=response.excerpt
        )
    return Verdict(
        VerdictKind.PERMANENT, f"agent refused the order: HTTP {status}", detail=response.excerpt
    )


def backoff_seconds(settings: Settings, attempt: int) -> float:
    """Delay after the `attempt`-th failed attempt: base x 2^(attempt - 1)."""
    return float(settings.ORDER_SYNC_BACKOFF_BASE_SECONDS * 2.0 ** max(attempt - 1, 0))


async def push_order(
    pool: Pool,
    http: HttpSession,
    settings: Settings,
    sync_job_id: str,
    queue_job_id: int | None = None,
    breakers: BreakerRegistry | None = None,
    alerter: Alerter | None = None,
) -> PushOutcome:
    """One run of the push of a sync job (see the module docstring for the outcomes).

    With `breakers`, the call goes through the (vendor, create_order) breaker: an open
    breaker postpones the push without a call and without an attempt, like an offline agent.
    """
    guard = _Guard(breakers, alerter)
    try:
        return await _push(pool, http, settings, UUID(sync_job_id), queue_job_id, guard)
    except (RetryPush, PushFailed):
        raise
    except DatabaseUnavailable as exc:
        # Nothing is known to have failed but the database: look again later.
        delay = timedelta(seconds=settings.ORDER_SYNC_BACKOFF_BASE_SECONDS)
        raise RetryPush(exc.detail, retry_at=datetime.now(UTC) + delay) from exc
    except Exception as exc:
        # A bug must not retry forever: fail for good, so it shows in the dead-letter queue.
        logger.exception("push of sync job %s failed unexpectedly", sync_job_id)
        reason = f"internal error while pushing: {type(exc).__name__}"
        await _record_failure_quietly(pool, sync_job_id, reason, traceback.format_exc())
        raise PushFailed(reason) from exc


async def requeue_callback_timeouts(pool: Pool) -> list[SweepResult]:
    """Push again the sync jobs whose callback did not come in time (dead-letter when spent)."""
    async with transaction(pool) as conn:
        results = await sync_jobs_db.requeue_callback_timeouts(
            conn, task_name=TASK_PUSH_ORDER, queue=QUEUE_ORDER_SYNC
        )
    for result in results:
        logger.warning(
            "no callback in time: sync job %s",
            result.outcome,
            extra={"sync_job_id": str(result.sync_job_id), "vendor_id": result.vendor_id},
        )
    return results


@dataclass(frozen=True)
class _Guard:
    """The process's breakers (none: calls are not guarded) and where openings are alerted."""

    breakers: BreakerRegistry | None
    alerter: Alerter | None

    def open_for(self, vendor_id: str) -> float | None:
        """Seconds until the vendor's breaker lets a call through; None when it does now."""
        return self.breakers.open_for(vendor_id, API_CREATE_ORDER) if self.breakers else None

    async def call(
        self, pool: Pool, vendor_id: str, call: Callable[[], Awaitable[AgentResponse]]
    ) -> AgentResponse:
        """The agent's answer; transient failures count against the breaker."""
        if self.breakers is None:
            return await call()
        try:
            return await self.breakers.call(
                vendor_id,
                API_CREATE_ORDER,
                call,
                lambda r: classify(r).kind is VerdictKind.TRANSIENT,
            )
        except BreakerOpen:
            # Opened by another run between the check and the call (rare): no call was made,
            # but the attempt is counted already, so report it as a transient failure.
            return AgentResponse(status=None, body=None, error="circuit breaker open")
        finally:
            await self.breakers.flush(pool, self.alerter)


async def _push(
    pool: Pool,
    http: HttpSession,
    settings: Settings,
    sync_job_id: UUID,
    queue_job_id: int | None,
    guard: _Guard,
) -> PushOutcome:
    async with connection(pool) as conn:
        target = await sync_jobs_db.push_target(
            conn,
            sync_job_id,
            degraded_seconds=settings.HEARTBEAT_DEGRADED_SECONDS,
            offline_seconds=settings.HEARTBEAT_OFFLINE_SECONDS,
        )
    if target is None:
        logger.error("push job names an unknown sync job", extra={"sync_job_id": str(sync_job_id)})
        return PushOutcome.NOTHING_TO_DO
    skip = _skip_reason(target, queue_job_id)
    if skip is not None:
        return _nothing_to_do(target, skip)
    if target.status == "failed":
        # Recorded by an earlier run that stopped before the queue job failed: finish it.
        raise PushFailed(target.error_message or "failed")
    if target.agent_health in UNREACHABLE:
        raise await _postponement(pool, settings, target, f"agent {target.agent_health}")
    wait = guard.open_for(target.vendor_id)
    if wait is not None:
        delay = min(wait, settings.ORDER_SYNC_POSTPONE_SECONDS)
        raise await _postponement(pool, settings, target, "circuit breaker open", delay)
    if target.attempts >= target.max_attempts:
        raise await _failure(pool, target, f"no attempt left after {target.attempts}", None)
    async with transaction(pool) as conn:
        attempt = await sync_jobs_db.start_attempt(conn, target.id)
    if attempt is None:
        return _nothing_to_do(target, "changed meanwhile")
    assert target.agent_url is not None
    assert target.outbound_secret is not None
    call = functools.partial(
        agents.create_order,
        http,
        target.agent_url,
        target.outbound_secret,
        target.payload,
        idempotency_key=str(target.id),
        correlation_id=target.correlation_id or correlation_id_var.get() or new_correlation_id(),
        timeout_seconds=settings.AGENT_CALL_TIMEOUT_SECONDS,
    )
    response = await guard.call(pool, target.vendor_id, call)
    return await _settle(pool, settings, target, attempt, classify(response), response.status)


async def _settle(
    pool: Pool,
    settings: Settings,
    target: PushTarget,
    attempt: int,
    verdict: Verdict,
    http_status: int | None,
) -> PushOutcome:
    fields = {**_fields(target), "attempt": attempt, "http_status": http_status}
    if verdict.kind is VerdictKind.COMPLETED:
        assert verdict.erp_reference is not None
        async with transaction(pool) as conn:
            done = await sync_jobs_db.complete(
                conn,
                target.id,
                erp_reference=verdict.erp_reference,
                erp_status=verdict.erp_status or DEFAULT_ERP_STATUS,
            )
        logger.info("order pushed: ERP reference received", extra=fields)
        return PushOutcome.COMPLETED if done else PushOutcome.NOTHING_TO_DO
    if verdict.kind is VerdictKind.ACCEPTED:
        async with transaction(pool) as conn:
            deadline = await sync_jobs_db.await_callback(
                conn, target.id, callback_timeout_seconds=settings.CALLBACK_TIMEOUT_SECONDS
            )
        logger.info("order accepted by the agent: awaiting its callback", extra=fields)
        return PushOutcome.AWAITING_CALLBACK if deadline else PushOutcome.NOTHING_TO_DO
    if verdict.kind is VerdictKind.TRANSIENT and attempt < target.max_attempts:
        return await _retry(pool, settings, target, attempt, verdict, fields)
    message = verdict.message
    if verdict.kind is VerdictKind.TRANSIENT:
        message = f"{message} (attempt {attempt} of {target.max_attempts}: no retry left)"
    logger.error("order push failed for good: %s", message, extra=fields)
    raise await _failure(pool, target, message, verdict.detail)


async def _retry(
    pool: Pool,
    settings: Settings,
    target: PushTarget,
    attempt: int,
    verdict: Verdict,
    fields: dict[str, Any],
) -> PushOutcome:
    async with transaction(pool) as conn:
        retry_at = await sync_jobs_db.schedule_retry(
            conn,
            target.id,
            delay_seconds=backoff_seconds(settings, attempt),
            error_message=verdict.message,
            error_stack=verdict.detail,
        )
    if retry_at is None:
        return _nothing_to_do(target, "changed meanwhile")
    logger.warning("order push failed, will retry: %s", verdict.message, extra=fields)
    raise RetryPush(verdict.message, retry_at=retry_at)


async def _postponement(
    pool: Pool, settings: Settings, target: PushTarget, reason: str, delay: float | None = None
) -> RetryPush | PushFailed:
    """No call (agent offline, breaker open): wait without an attempt, until the maximum age."""
    age = (target.db_now - target.created_at).total_seconds()
    if age >= settings.ORDER_SYNC_MAX_AGE_SECONDS:
        limit = settings.ORDER_SYNC_MAX_AGE_SECONDS
        message = f"{reason} for longer than the maximum age ({limit:g} s)"
        logger.error("order push expired: %s", message, extra=_fields(target))
        return await _failure(pool, target, message, None)
    async with transaction(pool) as conn:
        retry_at = await sync_jobs_db.postpone(
            conn,
            target.id,
            delay_seconds=settings.ORDER_SYNC_POSTPONE_SECONDS if delay is None else delay,
            max_age_seconds=settings.ORDER_SYNC_MAX_AGE_SECONDS,
            error_message=f"{reason}: postponed without a call",
        )
    logger.info("order push postponed: %s", reason, extra=_fields(target))
    return RetryPush(reason, retry_at=retry_at or target.db_now)


async def _failure(pool: Pool, target: PushTarget, message: str, detail: str | None) -> PushFailed:
    """Record a permanent failure; raising the result fails the queue job for good."""
    async with transaction(pool) as conn:
        await sync_jobs_db.fail(conn, target.id, error_message=message, error_stack=detail)
    return PushFailed(message)


async def _record_failure_quietly(pool: Pool, sync_job_id: str, message: str, stack: str) -> None:
    try:
        async with transaction(pool) as conn:
            await sync_jobs_db.fail(
                conn, UUID(sync_job_id), error_message=message, error_stack=stack
            )
    except Exception:
        logger.exception("could not record the failure of sync job %s", sync_job_id)


def _skip_reason(target: PushTarget, queue_job_id: int | None) -> str | None:
    """Why this run must not push, if it must not."""
    if queue_job_id is not None and target.procrastinate_job_id != queue_job_id:
        # Another queue job is in charge of this sync job (e.g. requeued after a timeout).
        return "stale queue job"
    if target.status in ("completed", "awaiting_callback", "dead"):
        return target.status
    return None


def _nothing_to_do(target: PushTarget, why: str) -> PushOutcome:
    logger.info("nothing to push: %s", why, extra=_fields(target))
    return PushOutcome.NOTHING_TO_DO


def _fields(target: PushTarget) -> dict[str, Any]:
    return {"sync_job_id": str(target.id), "vendor_id": target.vendor_id}
