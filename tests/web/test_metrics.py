"""GET /metrics: valid Prometheus text; HTTP series per process, shared state from PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from psycopg.rows import DictRow

from restosync.queue import TASK_RECOVER_STALLED_JOBS
from restosync.web.keys import QUEUE_APP
from tests.agents import enrol
from tests.ingest import item, push, seed_mappings
from tests.orders import create_order, order_body

Conn = psycopg.AsyncConnection[DictRow]


async def _samples(client: TestClient[Any, Any]) -> dict[tuple[str, frozenset[Any]], float]:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(await response.text())
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }


async def test_http_requests_are_counted_by_route(client: TestClient[Any, Any]) -> None:
    for _ in range(3):
        await client.get("/health/live")
    await client.get("/no/such/path")
    samples = await _samples(client)
    live = frozenset({"route": "get_health_live", "method": "GET", "status": "200"}.items())
    assert samples[("restosync_http_requests_total", live)] == 3
    unmatched = frozenset({"route": "unmatched", "method": "GET", "status": "404"}.items())
    assert samples[("restosync_http_requests_total", unmatched)] == 1
    duration = frozenset({"route": "get_health_live", "method": "GET"}.items())
    assert samples[("restosync_http_request_duration_seconds_count", duration)] == 3


async def test_shared_state_comes_from_the_database(client: TestClient[Any, Any], db: Conn) -> None:
    await enrol(client, "vendor-a")
    await enrol(client, "vendor-b")
    await db.execute(
        "UPDATE agent_registry SET last_heartbeat = now() - interval '1 hour' "
        "WHERE vendor_id = 'vendor-b'"
    )
    await db.execute(
        "INSERT INTO circuit_breakers (vendor_id, api_type, state, opened_at) "
        "VALUES ('vendor-b', 'orders', 'open', now())"
    )
    await db.execute(
        "INSERT INTO ingest_batches (vendor_id, entity, mode, received_count, processed_count, "
        "skipped_count, failed_count, bytes, duration_ms) "
        "VALUES ('vendor-a', 'items', 'incremental', 10, 7, 2, 1, 100, 5)"
    )
    await client.app[QUEUE_APP].configure_task(TASK_RECOVER_STALLED_JOBS).defer_async(timestamp=1)

    samples = await _samples(client)

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert value("restosync_agents", status="online") == 1
    assert value("restosync_agents", status="offline") == 1
    assert value("restosync_circuit_breaker_state", vendor_id="vendor-b", api_type="orders",
                 state="open") == 1  # fmt: skip
    assert value("restosync_circuit_breaker_state", vendor_id="vendor-b", api_type="orders",
                 state="closed") == 0  # fmt: skip
    assert value("restosync_ingest_rows_total", entity="items", status="processed") == 7
    assert value("restosync_ingest_rows_total", entity="items", status="failed") == 1
    assert value("restosync_queue_jobs", queue="maintenance", status="todo") == 1
    assert ("restosync_queue_oldest_job_seconds", frozenset({("queue", "maintenance")})) in samples


# --- values move when work happens (issue 6) ------------------------------------------


async def test_series_move_when_work_happens(client: TestClient[Any, Any], db: Conn) -> None:
    vendor = "vendor-moves"
    await enrol(client, vendor)
    await seed_mappings(db, vendor)
    before = await _samples(client)

    await push(client, vendor, "items", [item("SKU-1"), item("SKU-2"), item("BAD", erpVatCode="?")])
    await create_order(client, order_body(vendor, ["SKU-1"]))
    await db.execute(
        "INSERT INTO reconciliation_events (vendor_id, event_type, entity) "
        "VALUES (%s, 'drift_detected', 'stock')",
        [vendor],
    )
    after = await _samples(client)

    def moved(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("restosync_ingest_rows_total", entity="items", status="processed") == 2
    assert moved("restosync_ingest_rows_total", entity="items", status="failed") == 1
    assert moved("restosync_sync_jobs", operation="create_order", status="pending") == 1
    assert moved("restosync_queue_jobs", queue="order-sync", status="todo") == 1
    assert moved("restosync_reconciliation_drift_events_total", vendor_id=vendor,
                 entity="stock") == 1  # fmt: skip
    assert moved("restosync_http_requests_total", route="post_api_orders", method="POST",
                 status="201") == 1  # fmt: skip
