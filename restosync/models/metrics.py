"""Admin metrics of one vendor (SPEC §3.3): its sync jobs and its reconciliation runs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from restosync.models.base import WireModel

MAX_WINDOW_HOURS = 30 * 24  # the retention of reconciliation events and resolved dead letters


class MetricsWindow(WireModel):
    """How far back the metrics look: `?windowHours=24` (1..720)."""

    window_hours: int = Field(default=24, ge=1, le=MAX_WINDOW_HOURS)


class SyncJobMetrics(WireModel):
    """Sync jobs of one vendor created in the window, by status, with rates and latencies."""

    vendor_id: str
    window_hours: int
    since: datetime = Field(description="Start of the window (jobs created at or after it).")
    total: int
    pending: int
    processing: int
    awaiting_callback: int
    completed: int
    failed: int = Field(description="Jobs that failed, dead ones included.")
    dead: int = Field(description="Jobs that failed for good (in the dead-letter queue).")
    success_rate: float | None = Field(
        description="completed / (completed + failed), 0..1; null when none has finished."
    )
    average_latency_ms: float | None = Field(
        description="Mean of completed_at - created_at over completed jobs; null when none."
    )
    p95_latency_ms: float | None = Field(
        description="95th percentile (continuous) of the same latencies; null when none."
    )
    retry_rate: float | None = Field(
        description="Share of jobs that needed more than one attempt, 0..1; null when no job."
    )


EventType = Literal["full_checksum", "drift_detected", "drift_resolved", "error"]


class LastReconciliation(WireModel):
    """The vendor's newest reconciliation event, whatever the window."""

    timestamp: datetime
    event_type: EventType
    entity: Literal["items", "stock"] | None
    duration_ms: int | None


class ReconciliationMetrics(WireModel):
    """Reconciliation runs of one vendor in the window, and how often they found drift."""

    vendor_id: str
    window_hours: int
    since: datetime
    runs: int = Field(
        description="Runs of one entity that ended: full_checksum, drift_resolved or error "
        "events (a run that found drift writes drift_detected first)."
    )
    runs_with_drift: int = Field(description="drift_detected events (one per run with drift).")
    drift_resolved: int = Field(description="drift_resolved events.")
    errors: int = Field(description="error events.")
    drift_frequency: float | None = Field(
        description="runs_with_drift / runs, 0..1; null when no run."
    )
    last_run: LastReconciliation | None
