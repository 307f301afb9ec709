"""The procrastinate App shared by web and worker processes, and the names of queues and tasks.

procrastinate wants one App per process (tasks and blueprints are bound to it), so this
module owns it. It opens on a pool of its own, built from the bound settings (or the
environment, when procrastinate's CLI opens it in a worker process). The web process
defers jobs by task name with the caller's connection, so a job commits or rolls back
with the business rows that caused it. `restosync.worker` registers the tasks.
"""

from __future__ import annotations

from typing import Any

import orjson
import procrastinate
import psycopg_pool
from procrastinate.app import WorkerOptions

from restosync.settings import Settings, load_settings

QUEUE_ORDER_SYNC = "order-sync"
QUEUE_RECONCILIATION = "reconciliation"
QUEUE_MAINTENANCE = "maintenance"
QUEUES = (QUEUE_ORDER_SYNC, QUEUE_RECONCILIATION, QUEUE_MAINTENANCE)

TASK_RECOVER_STALLED_JOBS = "maintenance:recover_stalled_jobs"
TASK_AGENT_HEALTH = "maintenance:agent_health"

# --- Ingest: replay of rejected rows (issue 4) --------------------------------------
# Deferred on the maintenance queue, with kwargs vendor_id, blocked_by_type,
# blocked_by_codes (see restosync.services.ingest.defer_replay).
TASK_REPLAY_REJECTIONS = "ingest:replay_rejections"
# --- snapshots (issue 4): deferred with the last page of a full snapshot, on the
# maintenance queue, kwargs vendor_id, entity, snapshot_id, correlation_id
# (see restosync.services.ingest.snapshots). ---
TASK_APPLY_SNAPSHOT = "ingest:apply_snapshot"
# end of snapshots
# --- end of ingest -------------------------------------------------------------------

# --- Orders: the outbound push (issue 5) ---------------------------------------------
# The push of one sync job to its vendor's agent. sql/0008.orders.sql names this task and
# the lock format in SQL (dead-letter trigger, callback-timeout sweep): change them together.
TASK_PUSH_ORDER = "orders:push_order"
TASK_REQUEUE_CALLBACK_TIMEOUTS = "maintenance:requeue_callback_timeouts"


def vendor_lock(vendor_id: str) -> str:
    """procrastinate lock of a vendor's lane: one push in flight per vendor, FIFO per vendor."""
    return f"vendor:{vendor_id}"


# --- end of orders -------------------------------------------------------------------

# --- Maintenance: retention and the DLQ alert (issue 6) -----------------------------
# Periodic tasks of SPEC §6 on the maintenance queue (restosync/worker/tasks.py); their
# work is in the SQL functions of sql/0013.maintenance.sql.
TASK_DLQ_ALERT = "maintenance:dlq_alert"
TASK_CLEANUP_SYNC_JOBS = "maintenance:cleanup_sync_jobs"
TASK_CLEANUP_RECONCILIATION_EVENTS = "maintenance:cleanup_reconciliation_events"
TASK_CLEANUP_RESOLVED_DLQ = "maintenance:cleanup_resolved_dlq"
# --- end of maintenance --------------------------------------------------------------

# --- Reconciliation (issue 6) ----------------------------------------------------------
# One run per vendor (restosync/worker/reconciliation_tasks.py), deferred hourly for every
# active vendor and by POST /api/admin/reconciliation/trigger; `reconciliation_lock` is
# both its lock (one run at a time) and its queueing lock (at most one waiting).
TASK_RECONCILE_VENDOR = "reconciliation:reconcile_vendor"
TASK_DETECT_DRIFT = "reconciliation:detect_drift"


def reconciliation_lock(vendor_id: str) -> str:
    """procrastinate lock and queueing lock of a vendor's reconciliation runs."""
    return f"reconciliation:{vendor_id}"


# --- end of reconciliation -------------------------------------------------------------


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_bound_settings: Settings | None = None


def bind_settings(settings: Settings) -> None:
    """Settings the App's pool is built from when it next opens (else the environment's)."""
    global _bound_settings
    _bound_settings = settings


def _pool_from_settings(**pool_args: Any) -> psycopg_pool.AsyncConnectionPool[Any]:
    """The App's own pool, built when it opens (web, worker CLI, tests alike)."""
    settings = _bound_settings or load_settings()
    pool_args.pop("conninfo", None)
    return psycopg_pool.AsyncConnectionPool(
        settings.database_url, max_size=max(2, settings.DATABASE_POOL_MAX), **pool_args
    )


def worker_options(settings: Settings) -> WorkerOptions:
    """Worker defaults that come from the settings."""
    return {
        "fetch_job_polling_interval": settings.WORKER_POLL_SECONDS,
        "stalled_worker_timeout": settings.WORKER_STALLED_SECONDS,
        "update_heartbeat_interval": min(10.0, settings.WORKER_STALLED_SECONDS / 4),
        # Finished jobs are pruned by retention, in step with their sync_jobs rows; the
        # dead-letter trigger of sql/0008 also needs failed jobs updated, not deleted.
        "delete_jobs": "never",
    }


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        pool_factory=_pool_from_settings,
        json_dumps=_dumps,
        json_loads=orjson.loads,
        min_size=1,
    )
)
