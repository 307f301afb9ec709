"""Reconciliation admin over HTTP: trigger (defers jobs, audited) and the event log."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.agents import ADMIN, enrol
from tests.ingest import Conn, rows_of

TRIGGER = "/api/admin/reconciliation/trigger"
EVENTS = "/api/admin/reconciliation/events"


async def _queued(db: Conn) -> list[dict[str, Any]]:
    return await rows_of(
        db,
        "SELECT id, queue_name, lock, queueing_lock, args->>'vendor_id' AS vendor_id "
        "FROM procrastinate_jobs WHERE task_name = 'reconciliation:reconcile_vendor' "
        "AND status = 'todo' ORDER BY id",
    )


async def _event(db: Conn, vendor_id: str, event_type: str, entity: str | None) -> None:
    await db.execute(
        "INSERT INTO reconciliation_events (vendor_id, event_type, entity, summary, duration_ms) "
        "VALUES (%s, %s, %s, %s, 12)",
        [vendor_id, event_type, entity, '{"agentCalls": 2}'],
    )


async def test_endpoints_need_the_api_key(client: TestClient[Any, Any], db: Conn) -> None:
    assert (await client.post(TRIGGER, json={})).status == 401
    assert (await client.get(EVENTS)).status == 401
    assert (await client.get(EVENTS, headers={"X-API-Key": "wrong" * 8})).status == 401
    assert await _queued(db) == []


async def test_trigger_for_one_vendor_defers_one_locked_job(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await enrol(client, "v-rec-1")
    await enrol(client, "v-rec-2")
    response = await client.post(TRIGGER, json={"vendorId": "v-rec-1"}, headers=ADMIN)
    body = await response.json()
    assert response.status == 202, body
    [job] = await _queued(db)
    assert body == {"deferred": [{"vendorId": "v-rec-1", "jobId": job["id"]}]}
    assert (job["queue_name"], job["vendor_id"]) == ("reconciliation", "v-rec-1")
    assert job["lock"] == job["queueing_lock"] == "reconciliation:v-rec-1"
    # One waiting run per vendor: a second trigger defers nothing for it.
    again = await (await client.post(TRIGGER, json={"vendorId": "v-rec-1"}, headers=ADMIN)).json()
    assert again == {"deferred": [{"vendorId": "v-rec-1", "jobId": None}]}
    assert len(await _queued(db)) == 1
    [audit, _] = await rows_of(db, "SELECT action, target_id, details FROM audit_log ORDER BY id")
    assert (audit["action"], audit["target_id"]) == ("reconciliation.trigger", "v-rec-1")
    assert audit["details"]["deferred"] == 1


async def test_trigger_without_a_vendor_covers_every_active_vendor(
    client: TestClient[Any, Any], db: Conn
) -> None:
    for vendor in ("v-a", "v-b", "v-gone"):
        await enrol(client, vendor)
    assert (await client.delete("/api/admin/agents/v-gone", headers=ADMIN)).status == 204
    response = await client.post(TRIGGER, json={}, headers=ADMIN)
    body = await response.json()
    assert response.status == 202, body
    assert [d["vendorId"] for d in body["deferred"]] == ["v-a", "v-b"]
    assert [j["vendor_id"] for j in await _queued(db)] == ["v-a", "v-b"]


async def test_trigger_refuses_unknown_and_deregistered_vendors(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await enrol(client, "v-gone")
    assert (await client.delete("/api/admin/agents/v-gone", headers=ADMIN)).status == 204
    unknown = await client.post(TRIGGER, json={"vendorId": "nobody"}, headers=ADMIN)
    assert unknown.status == 404
    gone = await client.post(TRIGGER, json={"vendorId": "v-gone"}, headers=ADMIN)
    assert gone.status == 422
    assert "deregistered" in (await gone.json())["detail"]
    invalid = await client.post(TRIGGER, json={"vendorId": "x" * 101}, headers=ADMIN)
    assert invalid.status == 422
    assert (await invalid.json())["errors"][0]["loc"] == ["vendorId"]
    assert await _queued(db) == []
    assert (
        await rows_of(db, "SELECT 1 FROM audit_log WHERE action = 'reconciliation.trigger'") == []
    )


async def test_events_are_listed_newest_first_with_filters(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _event(db, "v-1", "full_checksum", "items")
    await _event(db, "v-1", "drift_detected", "stock")
    await _event(db, "v-2", "error", None)
    page = await (await client.get(EVENTS, headers=ADMIN)).json()
    assert [(e["vendorId"], e["eventType"]) for e in page["data"]] == [
        ("v-2", "error"),
        ("v-1", "drift_detected"),
        ("v-1", "full_checksum"),
    ]
    assert page["meta"] == {"page": 1, "limit": 50, "total": 3, "totalPages": 1}
    assert page["data"][1]["summary"] == {"agentCalls": 2}
    assert page["data"][1]["durationMs"] == 12
    one = await (
        await client.get(
            EVENTS, params={"vendorId": "v-1", "limit": "1", "page": "2"}, headers=ADMIN
        )
    ).json()
    assert [e["eventType"] for e in one["data"]] == ["full_checksum"]
    assert one["meta"]["totalPages"] == 2
    drift = await (
        await client.get(EVENTS, params={"eventType": "drift_detected"}, headers=ADMIN)
    ).json()
    assert [e["entity"] for e in drift["data"]] == ["stock"]
    bad = await client.get(EVENTS, params={"eventType": "nope"}, headers=ADMIN)
    assert bad.status == 422
