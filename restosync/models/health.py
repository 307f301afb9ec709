"""Liveness and readiness reports."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from restosync.models.base import WireModel


class Liveness(WireModel):
    """The process is up."""

    status: Literal["ok"] = "ok"
    version: str


class QueueDepth(WireModel):
    """Live jobs of one queue in one status."""

    queue: str
    status: str
    jobs: int
    oldest_scheduled_seconds: float | None = Field(
        default=None, description="Age of the oldest scheduled job, when any is scheduled."
    )


class WorkerSeen(WireModel):
    """A procrastinate worker and the age of its last heartbeat."""

    id: int
    seconds_since_heartbeat: float


class AgentCounts(WireModel):
    """Registered agents by health derived from their last heartbeat."""

    online: int = 0
    degraded: int = 0
    offline: int = 0
    total: int = 0


class DatabaseHealth(WireModel):
    """Whether the database answered, and how fast."""

    status: Literal["up", "down"]
    latency_ms: float | None = None


class WorkersHealth(WireModel):
    """Workers that sent a heartbeat recently, out of all registered."""

    alive: int
    registered: int
    stalled_after_seconds: float


class Readiness(WireModel):
    """Readiness of the service and of every subsystem it depends on."""

    status: Literal["ok", "degraded", "down"]
    version: str
    database: DatabaseHealth
    queues: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Jobs per queue and status (todo, doing)."
    )
    oldest_job_seconds: dict[str, float] = Field(
        default_factory=dict, description="Per queue, age of the oldest job waiting."
    )
    workers: WorkersHealth | None = None
    agents: AgentCounts | None = None
