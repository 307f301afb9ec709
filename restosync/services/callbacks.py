"""Agents' callbacks on orders they answered 202 for (SPEC §3.1, §6).

The sync job's vendor decides whose token is valid: another vendor's token and an
unknown job get the same 401, after the same bcrypt work. Callbacks are idempotent:

- on a live job (pending, processing, awaiting_callback): `completed` completes the job
  and syncs the order; `failed` is a permanent failure, dead-lettered at once by the
  same SQL function as the trigger of failed push jobs (sql/0008);
- a repeat of the outcome already recorded (same ERP reference; `failed` on a dead job)
  is acknowledged with `duplicate: true` and changes nothing;
- a callback that contradicts the recorded outcome (`failed` after completion,
  `completed` after the job was dead-lettered, another ERP reference) is refused with
  409 and changes nothing: a dead-lettered order needs an admin's decision, as a retry
  from the DLQ would push it again.

A callback can arrive before the worker has recorded the agent's 202 (the job is still
`processing`): it is applied, and the worker's later "awaiting callback" update then
finds nothing to change.
"""

from __future__ import annotations

import logging
from uuid import UUID

from restosync.db import sync_jobs as sync_jobs_db
from restosync.db.pool import Connection, Pool, connection, transaction
from restosync.db.sync_jobs import CallbackTarget
from restosync.errors import Conflict, NotFound
from restosync.models.orders import AgentCallback, CallbackAck
from restosync.queue import QUEUE_ORDER_SYNC, TASK_PUSH_ORDER
from restosync.services.agent_auth import AgentAuthenticator
from restosync.services.order_sync import DEFAULT_ERP_STATUS

logger = logging.getLogger(__name__)

LIVE = frozenset({"pending", "processing", "awaiting_callback"})
# Never a vendor (vendor ids have 1-100 characters): authenticating against it costs the
# same bcrypt as a real vendor and always fails.
_NO_VENDOR = ""
_MAX_REASON_CHARS = 500


async def handle_callback(
    pool: Pool, auth: AgentAuthenticator, callback: AgentCallback, bearer: str | None
) -> CallbackAck:
    """Authenticate the callback against its job's vendor, then apply it once."""
    job_id = _job_uuid(callback.job_id)
    vendor_id = None
    if job_id is not None:
        async with connection(pool) as conn:
            vendor_id = await sync_jobs_db.owner(conn, job_id)
    await auth.authenticate(vendor_id or _NO_VENDOR, bearer)
    assert job_id is not None
    async with transaction(pool) as conn:
        job = await sync_jobs_db.lock_for_callback(conn, job_id)
        if job is None:  # deleted by retention since it was read
            raise NotFound("The sync job no longer exists.")
        ack = await _apply(conn, job, callback)
    logger.info(
        "agent callback %s",
        "repeated" if ack.duplicate else "applied",
        extra={
            "sync_job_id": str(job_id),
            "vendor_id": job.vendor_id,
            "callback_status": callback.status,
            "status": ack.status,
        },
    )
    return ack


async def _apply(conn: Connection, job: CallbackTarget, callback: AgentCallback) -> CallbackAck:
    if job.status in LIVE:
        if callback.status == "completed":
            assert callback.erp_reference is not None
            await sync_jobs_db.complete(
                conn, job.id, erp_reference=callback.erp_reference, erp_status=_erp_status(callback)
            )
            return CallbackAck(job_id=job.id, status="completed", duplicate=False)
        error = callback.error or "no detail given"
        await sync_jobs_db.dead_letter(
            conn,
            job.id,
            task_name=TASK_PUSH_ORDER,
            queue=QUEUE_ORDER_SYNC,
            reason=f"agent reported failure: {error}"[:_MAX_REASON_CHARS],
            stack=callback.error,
        )
        return CallbackAck(job_id=job.id, status="dead", duplicate=False)
    if _repeats(job, callback):
        return CallbackAck.model_validate(
            {"job_id": job.id, "status": job.status, "duplicate": True}
        )
    raise Conflict(
        f"The sync job is {job.status}: a {callback.status} callback contradicts it. "
        "Nothing was changed."
    )


def _repeats(job: CallbackTarget, callback: AgentCallback) -> bool:
    if callback.status == "completed":
        return job.status == "completed" and job.erp_reference == callback.erp_reference
    return job.status in ("failed", "dead")


def _erp_status(callback: AgentCallback) -> str:
    value = (callback.metadata or {}).get("erpStatus")
    return value[:100] if isinstance(value, str) and value else DEFAULT_ERP_STATUS


def _job_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None
