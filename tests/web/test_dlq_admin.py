"""DLQ and sync-job admin over HTTP: list, get, resolve, retry (once), bulk retry, audit."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from tests.agents import ADMIN, enrol
from tests.orders import Conn, add_items, create_order, order_body, sync_job


async def _dead_lettered(client: TestClient[Any, Any], db: Conn, vendor: str) -> dict[str, Any]:
    """An order whose push failed for good (as a failed callback records it): its DLQ entry."""
    order = await create_order(client, order_body(vendor))
    job = await sync_job(db, order["id"])
    cur = await db.execute(
        "SELECT restosync_dead_letter_sync_job(%s, NULL, 'orders:push_order', 'order-sync',"
        " 'agent refused the order: HTTP 400') AS id",
        [job["id"]],
    )
    row = await cur.fetchone()
    assert row is not None
    assert row["id"] is not None
    return {"entry_id": str(row["id"]), "order": order, "job": job}


async def _setup(client: TestClient[Any, Any], db: Conn, *vendors: str) -> None:
    for vendor in vendors:
        await enrol(client, vendor)
        await add_items(db, vendor, ["SKU-1"])


async def _audit_actions(db: Conn) -> list[str]:
    cur = await db.execute("SELECT action FROM audit_log WHERE action LIKE 'dlq.%' ORDER BY id")
    return [row["action"] for row in await cur.fetchall()]


async def test_a_retry_creates_one_new_job_with_the_original_payload_and_a_second_is_409(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _setup(client, db, "v-dlq")
    dead = await _dead_lettered(client, db, "v-dlq")
    listed = await (await client.get("/api/admin/dlq", headers=ADMIN)).json()
    assert [e["id"] for e in listed["data"]] == [dead["entry_id"]]
    assert listed["data"][0]["failureReason"] == "agent refused the order: HTTP 400"

    response = await client.post(f"/api/admin/dlq/{dead['entry_id']}/retry", headers=ADMIN)
    retried = await response.json()
    assert response.status == 201, retried
    again = await client.post(f"/api/admin/dlq/{dead['entry_id']}/retry", headers=ADMIN)
    assert again.status == 409
    assert (await again.json())["detail"].endswith("already retried.")

    new_job = await (
        await client.get(f"/api/admin/sync-jobs/{retried['retryJobId']}", headers=ADMIN)
    ).json()
    assert (new_job["status"], new_job["attempts"], new_job["orderId"]) == (
        "pending",
        0,
        dead["order"]["id"],
    )
    original = dead["job"]["payload"]
    assert new_job["payload"] == {**original, "syncJobId": retried["retryJobId"]}
    cur = await db.execute(
        "SELECT queue_name, lock, args FROM procrastinate_jobs WHERE id = %s",
        [retried["procrastinateJobId"]],
    )
    queue_job = await cur.fetchone()
    assert queue_job is not None
    assert (queue_job["queue_name"], queue_job["lock"]) == ("order-sync", "vendor:v-dlq")
    assert queue_job["args"]["sync_job_id"] == retried["retryJobId"]
    entry = await (await client.get(f"/api/admin/dlq/{dead['entry_id']}", headers=ADMIN)).json()
    assert (entry["resolved"], entry["resolution"], entry["retryJobId"]) == (
        True,
        "retried",
        retried["retryJobId"],
    )
    assert entry["resolvedBy"].startswith("key:")
    order = await (await client.get(f"/api/orders/{dead['order']['id']}", headers=ADMIN)).json()
    assert order["status"] == "pending"
    assert (await (await client.get("/api/admin/dlq", headers=ADMIN)).json())["data"] == []
    assert await _audit_actions(db) == ["dlq.retry"]


async def test_concurrent_retries_of_one_entry_create_one_job(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _setup(client, db, "v-race")
    dead = await _dead_lettered(client, db, "v-race")
    url = f"/api/admin/dlq/{dead['entry_id']}/retry"
    responses = await asyncio.gather(*(client.post(url, headers=ADMIN) for _ in range(5)))
    assert sorted(r.status for r in responses) == [201, 409, 409, 409, 409]
    cur = await db.execute("SELECT count(*) AS n FROM sync_jobs WHERE vendor_id = 'v-race'")
    row = await cur.fetchone()
    assert row is not None
    assert row["n"] == 2


async def test_resolve_closes_an_entry_once_and_filters_select_entries(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _setup(client, db, "v-a", "v-b")
    first = await _dead_lettered(client, db, "v-a")
    await _dead_lettered(client, db, "v-b")
    url = f"/api/admin/dlq/{first['entry_id']}/resolve"
    response = await client.post(url, headers=ADMIN)
    assert response.status == 200
    assert (await response.json())["resolution"] == "resolved"
    assert (await client.post(url, headers=ADMIN)).status == 409
    retry = await client.post(f"/api/admin/dlq/{first['entry_id']}/retry", headers=ADMIN)
    assert retry.status == 409

    async def ids(query: str) -> list[str]:
        body = await (await client.get(f"/api/admin/dlq?{query}", headers=ADMIN)).json()
        return [e["vendorId"] for e in body["data"]]

    assert await ids("") == ["v-b"]
    assert await ids("resolved=true") == ["v-a"]
    assert await ids("vendorId=v-a") == []
    assert await ids("operation=create_order&vendorId=v-b") == ["v-b"]
    assert await _audit_actions(db) == ["dlq.resolve"]


async def test_bulk_retry_by_filter_answers_how_many_were_re_enqueued(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _setup(client, db, "v-bulk", "v-other")
    for _ in range(3):
        await _dead_lettered(client, db, "v-bulk")
    await _dead_lettered(client, db, "v-other")
    response = await client.post("/api/admin/dlq/retry", json={"vendorId": "v-bulk"}, headers=ADMIN)
    result = await response.json()
    assert response.status == 200, result
    assert result["retried"] == 3
    assert {e["vendorId"] for e in result["entries"]} == {"v-bulk"}
    again = await client.post("/api/admin/dlq/retry", json={"vendorId": "v-bulk"}, headers=ADMIN)
    assert (await again.json())["retried"] == 0
    future = await client.post(
        "/api/admin/dlq/retry", json={"since": "2999-01-01T00:00:00Z"}, headers=ADMIN
    )
    assert (await future.json())["retried"] == 0
    open_entries = await (await client.get("/api/admin/dlq", headers=ADMIN)).json()
    assert [e["vendorId"] for e in open_entries["data"]] == ["v-other"]
    assert await _audit_actions(db) == ["dlq.retry_bulk"] * 3


async def test_bad_input_is_a_clear_problem_and_changes_nothing(
    client: TestClient[Any, Any], db: Conn
) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    assert (await client.post(f"/api/admin/dlq/{unknown}/retry", headers=ADMIN)).status == 404
    assert (await client.post("/api/admin/dlq/nope/resolve", headers=ADMIN)).status == 404
    assert (await client.get("/api/admin/dlq/nope", headers=ADMIN)).status == 404
    assert (await client.get(f"/api/admin/sync-jobs/{unknown}", headers=ADMIN)).status == 404
    assert (await client.get("/api/admin/sync-status/nope", headers=ADMIN)).status == 404
    assert (await client.get("/api/admin/dlq?resolved=maybe", headers=ADMIN)).status == 422
    assert (await client.get("/api/admin/sync-jobs?status=lost", headers=ADMIN)).status == 422
    backwards = {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    response = await client.post("/api/admin/dlq/retry", json=backwards, headers=ADMIN)
    assert response.status == 422
    assert (await client.get("/api/admin/dlq")).status == 401
    assert await _audit_actions(db) == []


async def test_sync_jobs_list_filters_and_status(client: TestClient[Any, Any], db: Conn) -> None:
    await _setup(client, db, "v-jobs", "v-dead")
    live = await create_order(client, order_body("v-jobs"))
    await _dead_lettered(client, db, "v-dead")
    job = await sync_job(db, live["id"])

    async def vendors(query: str) -> list[str]:
        body = await (await client.get(f"/api/admin/sync-jobs?{query}", headers=ADMIN)).json()
        return [j["vendorId"] for j in body["data"]]

    assert sorted(await vendors("")) == ["v-dead", "v-jobs"]
    assert await vendors("status=dead") == ["v-dead"]
    assert await vendors("vendorId=v-jobs&operation=create_order") == ["v-jobs"]
    assert await vendors("operation=other_thing") == []
    status = await (await client.get(f"/api/admin/sync-status/{job['id']}", headers=ADMIN)).json()
    assert (status["id"], status["status"], status["attempts"]) == (str(job["id"]), "pending", 0)
    assert "payload" not in status
