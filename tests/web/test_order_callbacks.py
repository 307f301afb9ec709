"""POST /api/agents/callback: the job's vendor decides whose token counts; idempotent."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.agents import ADMIN, agent_headers, enrol
from tests.orders import Conn, add_items, order_body, sync_job

VENDOR, OTHER = "vendor-cb", "vendor-cb-other"
TOKEN, OTHER_TOKEN = "token-of-vendor-cb-0123456789", "token-of-vendor-cb-other-0123456"


async def _order_awaiting_callback(
    client: TestClient[Any, Any], db: Conn, status: str = "awaiting_callback"
) -> tuple[str, str]:
    """An order whose push the agent answered 202 for; (order id, sync job id)."""
    await enrol(client, VENDOR, TOKEN)
    await enrol(client, OTHER, OTHER_TOKEN)
    await add_items(db, VENDOR, ["SKU-1"])
    response = await client.post("/api/orders", json=order_body(VENDOR), headers=ADMIN)
    order_id = (await response.json())["id"]
    await db.execute(
        "UPDATE sync_jobs SET status = %s, attempts = 1 WHERE postgres_order_id = %s",
        [status, order_id],
    )
    return order_id, str((await sync_job(db, order_id))["id"])


async def _callback(
    client: TestClient[Any, Any], body: dict[str, Any], vendor: str = VENDOR, token: str = TOKEN
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/api/agents/callback", json=body, headers=agent_headers(vendor, token)
    )
    return response.status, await response.json()


async def _order(client: TestClient[Any, Any], order_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await (
        await client.get(f"/api/orders/{order_id}", headers=ADMIN)
    ).json()
    return result


async def test_only_the_jobs_vendor_may_call_back_and_unknown_jobs_look_the_same(
    client: TestClient[Any, Any], db: Conn
) -> None:
    order_id, job_id = await _order_awaiting_callback(client, db)
    done = {"jobId": job_id, "status": "completed", "erpReference": "ERP-1"}

    refusals = [
        await _callback(client, done, OTHER, OTHER_TOKEN),  # another vendor's valid token
        await _callback(client, done, VENDOR, OTHER_TOKEN),  # claiming the right vendor
        await _callback(client, {**done, "jobId": "00000000-0000-0000-0000-000000000000"}),
        await _callback(client, {**done, "jobId": "not-a-job"}),
        await _callback(client, done, VENDOR, "wrong-token-0123456789"),
    ]
    for status, problem in refusals:
        assert status == 401
        assert {k: v for k, v in problem.items() if k != "correlationId"} == {
            "type": "https://restosync.dev/problems/unauthorized",
            "title": "Unauthorized",
            "status": 401,
            "detail": "Missing or invalid agent credentials.",
            "code": "unauthorized",
        }
    order = await _order(client, order_id)
    assert (order["erpReference"], order["syncJob"]["status"]) == (None, "awaiting_callback")


async def test_completed_syncs_the_order_once(client: TestClient[Any, Any], db: Conn) -> None:
    order_id, job_id = await _order_awaiting_callback(client, db)
    done = {
        "jobId": job_id,
        "status": "completed",
        "erpReference": "ERP-42",
        "metadata": {"erpStatus": "confirmed"},
    }

    assert await _callback(client, done) == (
        200,
        {"jobId": job_id, "status": "completed", "duplicate": False},
    )
    order = await _order(client, order_id)
    assert (order["status"], order["erpReference"], order["erpStatus"]) == (
        "synced",
        "ERP-42",
        "confirmed",
    )
    assert order["syncJob"]["status"] == "completed"
    synced_at = order["erpSyncedAt"]
    assert synced_at is not None

    assert await _callback(client, done) == (
        200,
        {"jobId": job_id, "status": "completed", "duplicate": True},
    )
    status, problem = await _callback(client, {**done, "erpReference": "ERP-43"})
    assert status == 409
    assert "contradicts" in problem["detail"]
    status, _ = await _callback(client, {"jobId": job_id, "status": "failed", "error": "late"})
    assert status == 409
    order = await _order(client, order_id)
    assert (order["erpReference"], order["erpSyncedAt"]) == ("ERP-42", synced_at)
    assert await (await db.execute("SELECT id FROM dead_letter_queue")).fetchall() == []


async def test_a_callback_before_the_202_is_recorded_counts(
    client: TestClient[Any, Any], db: Conn
) -> None:
    order_id, job_id = await _order_awaiting_callback(client, db, status="processing")
    done = {"jobId": job_id, "status": "completed", "erpReference": "ERP-7"}
    assert (await _callback(client, done))[0] == 200
    order = await _order(client, order_id)
    assert (order["erpReference"], order["syncJob"]["status"]) == ("ERP-7", "completed")


async def test_failed_is_dead_lettered_at_once(client: TestClient[Any, Any], db: Conn) -> None:
    order_id, job_id = await _order_awaiting_callback(client, db)
    failed = {"jobId": job_id, "status": "failed", "error": "customer account blocked"}

    assert await _callback(client, failed) == (
        200,
        {"jobId": job_id, "status": "dead", "duplicate": False},
    )
    job = await sync_job(db, order_id)
    cur = await db.execute("SELECT * FROM dead_letter_queue")
    [entry] = await cur.fetchall()
    assert entry["original_job_id"] == job["id"]
    assert entry["procrastinate_job_id"] == job["procrastinate_job_id"]
    assert entry["failure_reason"] == "agent reported failure: customer account blocked"
    assert entry["attempt_count"] == 1
    order = await _order(client, order_id)
    assert (order["status"], order["syncJob"]["status"]) == ("failed", "dead")

    assert await _callback(client, failed) == (
        200,
        {"jobId": job_id, "status": "dead", "duplicate": True},
    )
    status, _ = await _callback(
        client, {"jobId": job_id, "status": "completed", "erpReference": "X"}
    )
    assert status == 409
    assert len(await (await db.execute("SELECT id FROM dead_letter_queue")).fetchall()) == 1


async def test_completed_needs_an_erp_reference(client: TestClient[Any, Any], db: Conn) -> None:
    _, job_id = await _order_awaiting_callback(client, db)
    status, problem = await _callback(client, {"jobId": job_id, "status": "completed"})
    assert status == 422
    assert "erpReference" in problem["errors"][0]["msg"]
    assert (await _callback(client, {"jobId": job_id, "status": "done"}))[0] == 422
