"""POST/GET /api/orders: validation, totals, one transaction with the push job, idempotency."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient

from tests.agents import ADMIN, enrol
from tests.orders import Conn, add_items, counts, order_body, sync_job

VENDOR = "vendor-orders"
NOTHING = dict.fromkeys(("orders", "order_items", "sync_jobs", "procrastinate_jobs"), 0)


async def _ready_vendor(client: TestClient[Any, Any], db: Conn, vendor: str = VENDOR) -> None:
    await enrol(client, vendor)
    await add_items(db, vendor, ["SKU-1", "SKU-2", "SKU-3"], vat_rate=Decimal("5.5"))


async def _post(
    client: TestClient[Any, Any], body: dict[str, Any], **headers: str
) -> tuple[int, dict[str, Any], Any]:
    response = await client.post("/api/orders", json=body, headers={**ADMIN, **headers})
    return response.status, await response.json(), response.headers


async def _written(db: Conn) -> dict[str, int]:
    found = await counts(db)
    return {table: found[table] for table in NOTHING}


async def test_an_order_is_created_priced_and_queued_in_one_go(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _ready_vendor(client, db)
    body = order_body(VENDOR, ["SKU-1"])
    body["items"] = [
        {"sku": "SKU-1", "quantity": 3, "unitPrice": 9.99, "discountRate": 10, "vatRate": 20},
        {"sku": "SKU-2", "quantity": "2.5", "unitPrice": "1.005", "description": "crates"},
    ]
    status, order, headers = await _post(client, body, **{"X-Correlation-ID": "corr-order-1"})

    assert status == 201, order
    assert headers["Location"] == f"/api/orders/{order['id']}"
    assert order["orderNumber"].startswith("RS-")
    assert order["status"] == "pending"
    # 3 x 9.99 = 29.97, -10 % = 26.973 -> 26.97, VAT 20 % = 5.394 -> 5.39;
    # 2.5 x 1.005 = 2.5125 -> 2.51, the item's VAT 5.5 % = 0.13805 -> 0.14 (half-up).
    lines = order["items"]
    assert [(x["lineSubtotal"], x["lineVat"], x["lineTotal"]) for x in lines] == [
        ("26.97", "5.39", "32.36"),
        ("2.51", "0.14", "2.65"),
    ]
    assert lines[1]["vatRate"] == "5.5"
    assert lines[1]["unitCode"] == "PCE"
    assert (order["subtotal"], order["vatTotal"], order["total"]) == ("29.48", "5.53", "35.01")
    assert order["shippingAddress"]["zipCode"] == "75001"
    assert order["syncJob"]["status"] == "pending"
    assert order["syncJob"]["attempts"] == 0
    assert order["erpReference"] is None

    job = await sync_job(db, order["id"])
    assert job["operation"] == "create_order"
    assert job["correlation_id"] == "corr-order-1"
    assert job["payload"]["syncJobId"] == str(job["id"])
    assert job["payload"]["orderData"]["total"] == "35.01"
    assert len(job["payload"]["orderData"]["items"]) == 2
    queued = await (
        await db.execute(
            "SELECT queue_name, task_name, lock, args, status::text AS status "
            "FROM procrastinate_jobs WHERE id = %s",
            [job["procrastinate_job_id"]],
        )
    ).fetchone()
    assert queued == {
        "queue_name": "order-sync",
        "task_name": "orders:push_order",
        "lock": f"vendor:{VENDOR}",
        "args": {"sync_job_id": str(job["id"]), "correlation_id": "corr-order-1"},
        "status": "todo",
    }


async def test_invalid_orders_are_refused_and_write_nothing(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _ready_vendor(client, db)
    line = {"sku": "SKU-1", "quantity": 1, "unitPrice": 1}
    address = order_body(VENDOR)["shippingAddress"]
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (order_body(VENDOR, items=[]), ["items"]),
        (order_body(VENDOR, items=[line] * 501), ["items"]),
        (order_body(VENDOR, items=[{**line, "quantity": 0}]), ["items", 0, "quantity"]),
        (order_body(VENDOR, items=[{**line, "unitPrice": -1}]), ["items", 0, "unitPrice"]),
        (order_body(VENDOR, items=[{**line, "vatRate": 101}]), ["items", 0, "vatRate"]),
        (order_body(VENDOR, items=[{**line, "quantity": "NaN"}]), ["items", 0, "quantity"]),
        (order_body(VENDOR, items=[{"sku": "SKU-1"}]), ["items", 0, "quantity"]),
        (
            order_body(VENDOR, billingAddress={k: v for k, v in address.items() if k != "city"}),
            ["billingAddress", "city"],
        ),
        ({"items": [line]}, ["vendorId"]),
    ]
    for body, loc in cases:
        status, problem, _ = await _post(client, body)
        assert status == 422, (body, problem)
        assert loc in [e["loc"] for e in problem["errors"]], problem
    response = await client.post("/api/orders", json=order_body(VENDOR))
    assert response.status == 401
    assert await _written(db) == NOTHING


async def test_unknown_skus_are_named_and_an_agent_is_required(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _ready_vendor(client, db)
    status, problem, _ = await _post(client, order_body(VENDOR, ["SKU-1", "NOPE-1", "NOPE-2"]))
    assert status == 422
    assert "'NOPE-1'" in problem["detail"]
    assert "'NOPE-2'" in problem["detail"]
    assert [e["loc"] for e in problem["errors"]] == [["items", 1, "sku"], ["items", 2, "sku"]]

    # SKUs are per vendor: another vendor's catalog does not count.
    await add_items(db, "vendor-without-agent", ["SKU-1"])
    status, problem, _ = await _post(client, order_body("vendor-without-agent"))
    assert status == 422
    assert "no active agent" in problem["detail"]

    assert (await client.delete(f"/api/admin/agents/{VENDOR}", headers=ADMIN)).status == 204
    status, problem, _ = await _post(client, order_body(VENDOR))
    assert status == 422
    assert "no active agent" in problem["detail"]
    assert await _written(db) == NOTHING


async def test_an_idempotency_key_gives_one_order(client: TestClient[Any, Any], db: Conn) -> None:
    await _ready_vendor(client, db)
    body = order_body(VENDOR)
    first = await _post(client, body, **{"Idempotency-Key": "key-1"})
    again = await _post(client, body, **{"Idempotency-Key": "key-1"})
    # Same request, other number formatting and key order: still the same request.
    same = {**body, "items": [{"unitPrice": 10, "quantity": "2.0", "sku": "SKU-1"}]}
    reformatted = await _post(client, same, **{"Idempotency-Key": "key-1"})
    other = await _post(client, order_body(VENDOR, ["SKU-2"]), **{"Idempotency-Key": "key-1"})
    fresh = await _post(client, body, **{"Idempotency-Key": "key-2"})

    assert first[0] == 201
    assert (again[0], again[1]["id"], again[2]["Idempotent-Replayed"]) == (
        200,
        first[1]["id"],
        "true",
    )
    assert (reformatted[0], reformatted[1]["id"]) == (200, first[1]["id"])
    assert other[0] == 409
    assert other[1]["code"] == "conflict"
    assert fresh[0] == 201
    assert fresh[1]["id"] != first[1]["id"]
    assert await _written(db) == {
        "orders": 2,
        "order_items": 2,
        "sync_jobs": 2,
        "procrastinate_jobs": 2,
    }


async def test_concurrent_requests_with_one_key_create_one_order(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _ready_vendor(client, db)
    body = order_body(VENDOR, ["SKU-1", "SKU-2"])
    results = await asyncio.gather(
        *(_post(client, body, **{"Idempotency-Key": "race"}) for _ in range(8))
    )
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] * 7 + [201]
    assert len({order["id"] for _, order, _ in results}) == 1
    assert await _written(db) == {
        "orders": 1,
        "order_items": 2,
        "sync_jobs": 1,
        "procrastinate_jobs": 1,
    }


async def test_bad_idempotency_keys_and_taken_order_numbers_are_refused(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _ready_vendor(client, db)
    status, _, _ = await _post(client, order_body(VENDOR), **{"Idempotency-Key": "k" * 256})
    assert status == 422
    status, _, _ = await _post(client, order_body(VENDOR, orderNumber="PO-1"))
    assert status == 201
    status, problem, _ = await _post(client, order_body(VENDOR, orderNumber="PO-1"))
    assert status == 409
    assert "PO-1" in problem["detail"]
    assert (await _written(db))["orders"] == 1


async def test_a_failure_after_the_job_is_deferred_leaves_nothing(
    client: TestClient[Any, Any], db: Conn
) -> None:
    """The sync_jobs row is written last: failing it must take the order and queue job back."""
    await _ready_vendor(client, db)
    await db.execute(
        """
        CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'refused by test'; END; $$;
        CREATE TRIGGER test_refuse BEFORE INSERT ON sync_jobs
            FOR EACH ROW EXECUTE FUNCTION test_refuse();
        """
    )
    status, problem, _ = await _post(client, order_body(VENDOR), **{"Idempotency-Key": "k-1"})
    assert status == 500, problem
    assert await _written(db) == NOTHING

    await db.execute("DROP TRIGGER test_refuse ON sync_jobs")
    status, _, _ = await _post(client, order_body(VENDOR), **{"Idempotency-Key": "k-1"})
    assert status == 201
    assert await _written(db) == dict.fromkeys(NOTHING, 1)


async def test_orders_are_read_back_one_by_one_and_in_pages(
    client: TestClient[Any, Any], db: Conn
) -> None:
    await _ready_vendor(client, db)
    await _ready_vendor(client, db, "vendor-other")
    ids = [(await _post(client, order_body(VENDOR)))[1]["id"] for _ in range(3)]
    other = (await _post(client, order_body("vendor-other")))[1]["id"]
    await db.execute("UPDATE orders SET status = 'synced' WHERE id = %s", [ids[0]])

    one = await client.get(f"/api/orders/{ids[1]}", headers=ADMIN)
    assert one.status == 200
    assert (await one.json())["items"][0]["sku"] == "SKU-1"
    for missing in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        assert (await client.get(f"/api/orders/{missing}", headers=ADMIN)).status == 404

    async def listed(query: str) -> dict[str, Any]:
        response = await client.get(f"/api/orders?{query}", headers=ADMIN)
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result

    page = await listed(f"vendorId={VENDOR}&limit=2")
    assert [o["id"] for o in page["data"]] == [ids[2], ids[1]]
    assert page["meta"] == {"page": 1, "limit": 2, "total": 3, "totalPages": 2}
    assert page["data"][0]["syncStatus"] == "pending"
    assert page["data"][0]["total"] == "21.10"  # 2 x 10.00 + 5.5 % VAT
    assert [o["id"] for o in (await listed("status=synced"))["data"]] == [ids[0]]
    assert [o["id"] for o in (await listed("vendorId=vendor-other"))["data"]] == [other]
    assert (await client.get("/api/orders?status=bogus", headers=ADMIN)).status == 422
