"""Readiness: the database, the queues, the workers and the agents, as seen right now."""

from __future__ import annotations

import time

from restosync import __version__
from restosync.db import health as health_db
from restosync.db.pool import Pool, connection
from restosync.errors import DatabaseUnavailable
from restosync.models.health import DatabaseHealth, Readiness, WorkersHealth
from restosync.queue import QUEUES
from restosync.settings import Settings

# A probe must answer fast: past this wait for a connection, the database counts as down.
PROBE_WAIT_SECONDS = 2.0


async def readiness(pool: Pool, settings: Settings) -> Readiness:
    """Probe every subsystem; a database outage gives status `down`, never an exception."""
    started = time.perf_counter()
    try:
        async with connection(pool, wait=PROBE_WAIT_SECONDS) as conn:
            await health_db.ping(conn)
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            depths = await health_db.queue_depths(conn)
            workers = await health_db.workers_seen(conn)
            agents = await health_db.agent_counts(
                conn,
                degraded_seconds=settings.HEARTBEAT_DEGRADED_SECONDS,
                offline_seconds=settings.HEARTBEAT_OFFLINE_SECONDS,
            )
    except DatabaseUnavailable:
        return Readiness(status="down", version=__version__, database=DatabaseHealth(status="down"))

    queues: dict[str, dict[str, int]] = {name: {"todo": 0, "doing": 0} for name in QUEUES}
    oldest: dict[str, float] = {}
    for depth in depths:
        queues.setdefault(depth.queue, {"todo": 0, "doing": 0})[depth.status] = depth.jobs
        if depth.status == "todo" and depth.oldest_scheduled_seconds is not None:
            oldest[depth.queue] = max(0.0, round(depth.oldest_scheduled_seconds, 3))
    alive = sum(1 for w in workers if w.seconds_since_heartbeat <= settings.WORKER_STALLED_SECONDS)
    return Readiness(
        status="ok" if alive else "degraded",
        version=__version__,
        database=DatabaseHealth(status="up", latency_ms=latency_ms),
        queues=queues,
        oldest_job_seconds=oldest,
        workers=WorkersHealth(
            alive=alive,
            registered=len(workers),
            stalled_after_seconds=settings.WORKER_STALLED_SECONDS,
        ),
        agents=agents,
    )
