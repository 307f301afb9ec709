"""Prometheus series (per-process HTTP metrics, shared state from PostgreSQL); admin metrics.

Queue, job, agent, breaker and ingest series come from the database at scrape time, so
every process (web or worker) reports the same truth and a scraper may hit any of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from psycopg.rows import DictRow

from restosync.db import health as health_db
from restosync.db import metrics as metrics_db
from restosync.db.pool import Pool, connection
from restosync.models.health import QueueDepth
from restosync.models.metrics import MetricsWindow, ReconciliationMetrics, SyncJobMetrics
from restosync.services.agents import thresholds
from restosync.settings import Settings

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BREAKER_STATES = ("closed", "open", "half_open")


class HttpMetrics:
    """Requests and latency by route, for one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "restosync_http_requests",
            "HTTP requests by route, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "restosync_http_request_duration_seconds",
            "HTTP request latency by route.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


async def render(pool: Pool, settings: Settings, http: HttpMetrics) -> bytes:
    """The whole exposition: this process's HTTP series, then the shared ones."""
    async with connection(pool) as conn:
        depths = await health_db.queue_depths(conn)
        shared = await metrics_db.snapshot(conn, thresholds(settings))
    registry = CollectorRegistry()
    registry.register(_SharedState(depths, shared))
    return generate_latest(http.registry) + generate_latest(registry)


class _SharedState(Collector):
    """A one-scrape collector over rows already read from the database."""

    def __init__(self, depths: list[QueueDepth], shared: dict[str, list[DictRow]]) -> None:
        self._depths = depths
        self._shared = shared

    def collect(self) -> Iterator[Metric]:
        """Every shared family (called once, by generate_latest)."""
        depth = GaugeMetricFamily(
            "restosync_queue_jobs",
            "Live procrastinate jobs by queue and status.",
            labels=("queue", "status"),
        )
        age = GaugeMetricFamily(
            "restosync_queue_oldest_job_seconds",
            "Age of the oldest due job waiting, by queue.",
            labels=("queue",),
        )
        for queue in self._depths:
            depth.add_metric((queue.queue, queue.status), queue.jobs)
            if queue.status == "todo" and queue.oldest_scheduled_seconds is not None:
                age.add_metric((queue.queue,), max(0.0, queue.oldest_scheduled_seconds))
        yield depth
        yield age

        ingest = CounterMetricFamily(
            "restosync_ingest_rows",
            "Ingested rows by entity and outcome.",
            labels=("entity", "status"),
        )
        for row in self._shared["ingest"]:
            for status in ("processed", "skipped", "failed"):
                ingest.add_metric((row["entity"], status), row[status])
        yield ingest

        jobs = GaugeMetricFamily(
            "restosync_sync_jobs",
            "Outbound sync jobs by operation and status (outcome).",
            labels=("operation", "status"),
        )
        for row in self._shared["jobs"]:
            jobs.add_metric((row["operation"], row["status"]), row["jobs"])
        yield jobs

        dlq = GaugeMetricFamily(
            "restosync_dead_letters_open",
            "Unresolved dead-letter entries by vendor.",
            labels=("vendor_id",),
        )
        for row in self._shared["dead_letters"]:
            dlq.add_metric((row["vendor_id"],), row["entries"])
        yield dlq

        breakers = GaugeMetricFamily(
            "restosync_circuit_breaker_state",
            "1 for the current state of each breaker.",
            labels=("vendor_id", "api_type", "state"),
        )
        for row in self._shared["breakers"]:
            for state in BREAKER_STATES:
                value = 1.0 if row["state"] == state else 0.0
                breakers.add_metric((row["vendor_id"], row["api_type"], state), value)
        yield breakers

        agents = GaugeMetricFamily(
            "restosync_agents",
            "Agents by health derived from their last heartbeat.",
            labels=("status",),
        )
        for row in self._shared["agents"]:
            agents.add_metric((row["status"],), row["agents"])
        yield agents

        drift = CounterMetricFamily(
            "restosync_reconciliation_drift_events",
            "Reconciliation runs that found drift, among the events kept (30 days).",
            labels=("vendor_id", "entity"),
        )
        for row in self._shared["drift"]:
            drift.add_metric((row["vendor_id"], row["entity"]), row["events"])
        yield drift


# --- Admin metrics of one vendor (issue 6) -------------------------------------------
# A vendor id is opaque and vendors have no table of their own: a vendor without rows
# (unknown, or quiet in the window) gets zero counts and null rates, not a 404.


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


async def vendor_sync_job_metrics(
    pool: Pool, vendor_id: str, window: MetricsWindow
) -> SyncJobMetrics:
    """The vendor's sync jobs created in the window: counts, success and retry rates, latency."""
    async with connection(pool) as conn:
        row = await metrics_db.vendor_sync_job_counts(conn, vendor_id, window.window_hours)
    finished = row["completed"] + row["failed"]
    return SyncJobMetrics(
        vendor_id=vendor_id,
        window_hours=window.window_hours,
        since=row["since"],
        total=row["total"],
        pending=row["pending"],
        processing=row["processing"],
        awaiting_callback=row["awaiting_callback"],
        completed=row["completed"],
        failed=row["failed"],
        dead=row["dead"],
        success_rate=_ratio(row["completed"], finished),
        average_latency_ms=row["average_latency_ms"],
        p95_latency_ms=row["p95_latency_ms"],
        retry_rate=_ratio(row["retried"], row["total"]),
    )


async def vendor_reconciliation_metrics(
    pool: Pool, vendor_id: str, window: MetricsWindow
) -> ReconciliationMetrics:
    """The vendor's reconciliation runs in the window, drift frequency, and its last event."""
    async with connection(pool) as conn:
        row = await metrics_db.vendor_reconciliation_counts(conn, vendor_id, window.window_hours)
        last = await metrics_db.last_reconciliation_event(conn, vendor_id)
    return ReconciliationMetrics(
        vendor_id=vendor_id,
        window_hours=window.window_hours,
        since=row["since"],
        runs=row["runs"],
        runs_with_drift=row["runs_with_drift"],
        drift_resolved=row["drift_resolved"],
        errors=row["errors"],
        drift_frequency=_ratio(row["runs_with_drift"], row["runs"]),
        last_run=last,
    )
