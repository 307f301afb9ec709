"""GET /api/admin/metrics/{vendorId} and /metrics/reconciliation/{vendorId} over real rows."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.agents import ADMIN
from tests.orders import Conn

VENDOR = "vendor-metrics"
COMPLETED_LATENCIES_S = list(range(1, 21))  # 20 completed jobs, 1 s .. 20 s


async def _jobs(
    db: Conn,
    status: str,
    *,
    count: int = 1,
    vendor_id: str = VENDOR,
    created_hours_ago: float = 2,
    latency_s: float | None = None,
    attempts: int = 1,
) -> None:
    await db.execute(
        """
        INSERT INTO sync_jobs (vendor_id, operation, status, payload, attempts, max_attempts,
                               created_at, completed_at)
        SELECT %(vendor_id)s, 'create_order', %(status)s, '{}', %(attempts)s, 5, created,
               created + make_interval(secs => %(latency)s)
        FROM (SELECT now() - make_interval(secs => %(ago)s) AS created) AS c,
             generate_series(1, %(count)s)
        """,
        {
            "vendor_id": vendor_id,
            "status": status,
            "attempts": attempts,
            "latency": latency_s,
            "ago": created_hours_ago * 3600,
            "count": count,
        },
    )


async def _event(
    db: Conn,
    event_type: str,
    *,
    minutes_ago: float,
    vendor_id: str = VENDOR,
    entity: str | None = "items",
    duration_ms: int | None = 50,
) -> None:
    await db.execute(
        "INSERT INTO reconciliation_events (vendor_id, event_type, entity, duration_ms, timestamp) "
        "VALUES (%s, %s, %s, %s, now() - make_interval(secs => %s))",
        [vendor_id, event_type, entity, duration_ms, minutes_ago * 60],
    )


async def _get(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path, headers=ADMIN)
    assert response.status == status, await response.text()
    return await response.json()


def _percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


async def test_sync_job_metrics_count_rates_and_latency_from_the_rows(
    client: TestClient[Any, Any], db: Conn
) -> None:
    for latency in COMPLETED_LATENCIES_S:
        await _jobs(db, "completed", latency_s=latency, attempts=3 if latency <= 3 else 1)
    await _jobs(db, "pending", count=2)
    await _jobs(db, "pending", attempts=2)
    await _jobs(db, "processing")
    await _jobs(db, "awaiting_callback")
    await _jobs(db, "failed", count=2, latency_s=5)
    await _jobs(db, "dead", latency_s=9, attempts=5)
    # Outside the 24 h window, and another vendor's: not counted.
    await _jobs(db, "completed", created_hours_ago=25, latency_s=1000)
    await _jobs(db, "completed", vendor_id="vendor-other", latency_s=500)

    body = await _get(client, f"/api/admin/metrics/{VENDOR}")

    latencies_ms = [s * 1000.0 for s in COMPLETED_LATENCIES_S]
    total = 20 + 3 + 1 + 1 + 3
    assert {
        k: v for k, v in body.items() if k not in {"since", "averageLatencyMs", "p95LatencyMs"}
    } == {
        "vendorId": VENDOR,
        "windowHours": 24,
        "total": total,
        "pending": 3,
        "processing": 1,
        "awaitingCallback": 1,
        "completed": 20,
        "failed": 3,
        "dead": 1,
        "successRate": 20 / 23,
        "retryRate": (3 + 1 + 1) / total,
    }
    assert body["averageLatencyMs"] == pytest.approx(sum(latencies_ms) / 20, rel=1e-12)
    assert body["p95LatencyMs"] == pytest.approx(_percentile_cont(latencies_ms, 0.95), rel=1e-12)
    assert body["p95LatencyMs"] == pytest.approx(19050.0, rel=1e-12)

    wider = await _get(client, f"/api/admin/metrics/{VENDOR}?windowHours=48")
    assert (wider["total"], wider["completed"], wider["windowHours"]) == (total + 1, 21, 48)
    assert wider["averageLatencyMs"] == pytest.approx((sum(latencies_ms) + 1e6) / 21, rel=1e-12)


async def test_a_vendor_without_jobs_gets_zeros_and_no_rates(client: TestClient[Any, Any]) -> None:
    body = await _get(client, "/api/admin/metrics/nobody-here")
    assert body["total"] == body["completed"] == body["failed"] == body["pending"] == 0
    assert body["successRate"] is None
    assert body["retryRate"] is None
    assert body["averageLatencyMs"] is None
    assert body["p95LatencyMs"] is None


async def test_reconciliation_metrics_count_runs_and_drift(
    client: TestClient[Any, Any], db: Conn
) -> None:
    for minutes in (300, 200, 100):
        await _event(db, "full_checksum", minutes_ago=minutes)
    await _event(db, "drift_detected", minutes_ago=60)
    await _event(db, "drift_resolved", minutes_ago=59)
    await _event(db, "error", minutes_ago=30, entity=None, duration_ms=None)
    await _event(db, "drift_detected", minutes_ago=2, entity="stock")
    await _event(db, "drift_resolved", minutes_ago=1, entity="stock", duration_ms=1234)
    # Outside 24 h, and another vendor's: not counted.
    await _event(db, "drift_detected", minutes_ago=30 * 60)
    await _event(db, "error", minutes_ago=30 * 60 - 1)
    await _event(db, "drift_detected", minutes_ago=5, vendor_id="vendor-other")
    await _event(db, "drift_resolved", minutes_ago=4, vendor_id="vendor-other")

    body = await _get(client, f"/api/admin/metrics/reconciliation/{VENDOR}")

    assert body["runs"] == 3 + 2 + 1
    assert (body["runsWithDrift"], body["driftResolved"], body["errors"]) == (2, 2, 1)
    assert body["driftFrequency"] == 2 / 6
    assert body["lastRun"] == {
        "timestamp": body["lastRun"]["timestamp"],
        "eventType": "drift_resolved",
        "entity": "stock",
        "durationMs": 1234,
    }
    wider = await _get(client, f"/api/admin/metrics/reconciliation/{VENDOR}?windowHours=48")
    assert (wider["runs"], wider["runsWithDrift"], wider["driftFrequency"]) == (7, 3, 3 / 7)

    nobody = await _get(client, "/api/admin/metrics/reconciliation/nobody-here")
    assert (nobody["runs"], nobody["driftFrequency"], nobody["lastRun"]) == (0, None, None)


@pytest.mark.parametrize("window", ["0", "721", "abc", "1.5"])
async def test_a_bad_window_is_a_422_problem(client: TestClient[Any, Any], window: str) -> None:
    for path in (f"/api/admin/metrics/{VENDOR}", f"/api/admin/metrics/reconciliation/{VENDOR}"):
        response = await client.get(f"{path}?windowHours={window}", headers=ADMIN)
        assert response.status == 422
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["errors"][0]["loc"] == ["query", "windowHours"]


async def test_admin_metrics_need_the_api_key(client: TestClient[Any, Any]) -> None:
    for path in (f"/api/admin/metrics/{VENDOR}", f"/api/admin/metrics/reconciliation/{VENDOR}"):
        response = await client.get(path)
        assert response.status == 401
        wrong = await client.get(path, headers={"X-API-Key": "x" * 40})
        assert wrong.status == 401
