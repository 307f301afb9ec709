"""Helpers for order tests: catalog rows, order bodies, database counts."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg
from aiohttp.test_utils import TestClient
from psycopg.rows import DictRow

from tests.agents import ADMIN

Conn = psycopg.AsyncConnection[DictRow]
ORDER_TABLES = ("orders", "order_items", "sync_jobs", "procrastinate_jobs", "dead_letter_queue")


async def add_items(
    db: Conn,
    vendor_id: str,
    skus: Sequence[str],
    *,
    vat_rate: Decimal = Decimal("20"),
    unit_code: str = "PCE",
) -> None:
    """Catalog rows for `skus` (what the ingest API would have written)."""
    await db.execute(
        """
        INSERT INTO items (vendor_id, sku, name, slug, erp_unit_code, erp_vat_code, unit_code,
                           vat_code, vat_rate, content_hash, last_synced_at)
        SELECT %(vendor_id)s, sku, 'Item ' || sku, lower(sku), 'U', 'V', %(unit_code)s, 'VAT',
               %(vat_rate)s, md5(sku), now()
        FROM unnest(%(skus)s::text[]) AS sku
        """,
        {"vendor_id": vendor_id, "skus": list(skus), "vat_rate": vat_rate, "unit_code": unit_code},
    )


def order_body(vendor_id: str, skus: Sequence[str] = ("SKU-1",), **fields: Any) -> dict[str, Any]:
    """A valid order body: one line per SKU (quantity 2 at 10.00), plus `fields`."""
    body: dict[str, Any] = {
        "vendorId": vendor_id,
        "customerId": "customer-1",
        "customerEmail": "chef@example.com",
        "shippingAddress": {
            "name": "Chez Test",
            "address1": "1 rue du Test",
            "city": "Paris",
            "zipCode": "75001",
            "country": "FR",
        },
        "items": [{"sku": sku, "quantity": 2, "unitPrice": "10.00"} for sku in skus],
    }
    body.update(fields)
    return body


async def counts(db: Conn) -> dict[str, int]:
    """Rows in every table an order touches."""
    result = {}
    for table in ORDER_TABLES:
        cur = await db.execute(f"SELECT count(*) AS n FROM {table}")
        row = await cur.fetchone()
        assert row is not None
        result[table] = int(row["n"])
    return result


async def sync_job(db: Conn, order_id: str) -> dict[str, Any]:
    """The sync job of an order."""
    cur = await db.execute("SELECT * FROM sync_jobs WHERE postgres_order_id = %s", [order_id])
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


# Short retries for the worker process; 4 jobs at once, so lanes can run side by side.
WORKER_ENV = {
    "ORDER_SYNC_BACKOFF_BASE_SECONDS": "0.2",
    "ORDER_SYNC_MAX_ATTEMPTS": "3",
    "ORDER_SYNC_POSTPONE_SECONDS": "0.3",
    "AGENT_CALL_TIMEOUT_SECONDS": "5",
    "PROCRASTINATE_WORKER_CONCURRENCY": "4",
}


def base_url(client: TestClient[Any, Any]) -> str:
    """Where the agents reach the web app."""
    return str(client.make_url("/"))


async def create_order(
    client: TestClient[Any, Any], body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    """POST an order; the created order."""
    response = await client.post("/api/orders", json=body, headers={**ADMIN, **headers})
    order: dict[str, Any] = await response.json()
    assert response.status == 201, order
    return order


async def read_order(client: TestClient[Any, Any], order_id: str) -> dict[str, Any]:
    """GET an order."""
    order: dict[str, Any] = await (
        await client.get(f"/api/orders/{order_id}", headers=ADMIN)
    ).json()
    return order


async def synced(client: TestClient[Any, Any], order_id: str) -> dict[str, Any] | None:
    """The order once it has its ERP reference, else None."""
    order = await read_order(client, order_id)
    return order if order["erpReference"] else None


async def dead(client: TestClient[Any, Any], order_id: str) -> dict[str, Any] | None:
    """The order once its sync job is dead (dead-lettered), else None."""
    order = await read_order(client, order_id)
    return order if order["syncJob"]["status"] == "dead" else None
