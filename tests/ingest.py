"""Helpers for ingest tests: row builders, pushes over HTTP, and what Postgres holds."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from aiohttp.test_utils import TestClient
from psycopg.rows import DictRow

from tests.agents import agent_headers

Conn = psycopg.AsyncConnection[DictRow]
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def at(minutes: int = 0) -> str:
    """An ERP-side sync time, minutes after T0."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


def _hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS)).hexdigest()


def item(sku: str, *, minutes: int = 0, **fields: Any) -> dict[str, Any]:
    """An item as the agent sends it, hashed over its content."""
    row: dict[str, Any] = {
        "sku": sku,
        "name": f"Item {sku}",
        "erpUnitCode": "PCE",
        "erpVatCode": "TVA20",
        "erpFamilyCode": "FRESH",
        "unitPrice": "12.50",
        "metaTitle": f"Buy {sku}",
        **fields,
    }
    return {**row, "contentHash": _hash(row), "lastSyncedAt": at(minutes)}


def stock(
    sku: str,
    warehouse: str,
    real: float = 10,
    reserved: float = 2,
    *,
    minutes: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    """A stock row as the agent sends it (virtual = real - reserved)."""
    row: dict[str, Any] = {
        "itemSku": sku,
        "erpWarehouseId": warehouse,
        "realStock": real,
        "virtualStock": real - reserved,
        "reservedQuantity": reserved,
        **fields,
    }
    return {**row, "contentHash": _hash(row), "lastSyncedAt": at(minutes)}


def warehouse(
    erp_id: str, *, code: str | None = None, minutes: int = 0, **fields: Any
) -> dict[str, Any]:
    """A warehouse as the agent sends it."""
    row: dict[str, Any] = {
        "erpWarehouseId": erp_id,
        "name": f"Warehouse {erp_id}",
        "code": code or erp_id,
        **fields,
    }
    return {**row, "contentHash": _hash(row), "lastSyncedAt": at(minutes)}


def tombstone(entity: str, key: str, *, minutes: int = 1) -> dict[str, Any]:
    """`deleted: true` for one row key (sku, itemSku|erpWarehouseId, erpWarehouseId)."""
    if entity == "items":
        return {"sku": key, "deleted": True, "lastSyncedAt": at(minutes)}
    if entity == "stock":
        sku, erp_id = key.split("|")
        return {
            "itemSku": sku,
            "erpWarehouseId": erp_id,
            "deleted": True,
            "lastSyncedAt": at(minutes),
        }
    return {"erpWarehouseId": key, "deleted": True, "lastSyncedAt": at(minutes)}


JSON = {"Content-Type": "application/json"}


def token_of(vendor_id: str) -> str:
    """The token tests.agents.enrol gives a vendor by default."""
    return f"token-of-{vendor_id}-0123456789"


async def push(
    client: TestClient[Any, Any],
    vendor_id: str,
    entity: str,
    rows: list[Any],
    *,
    batch: bool = False,
    dry_run: bool = False,
    expect: int = 200,
) -> dict[str, Any]:
    """POST rows as the vendor's agent; returns the JSON answer, asserting its status."""
    path = f"/api/sync/{entity}" + ("/batch" if batch else "")
    response = await client.post(
        path,
        # A file-like body: aiohttp warns about large raw bytes, warnings are errors here.
        data=io.BytesIO(orjson.dumps({"vendorId": vendor_id, entity: rows})),
        params={"dryRun": "true"} if dry_run else None,
        headers={**agent_headers(vendor_id, token_of(vendor_id)), **JSON},
    )
    body: dict[str, Any] = await response.json()
    assert response.status == expect, body
    return body


def outcomes(answer: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(identifier, status, reason) of every row of an answer."""
    return [(r["identifier"], r["status"], r.get("reason")) for r in answer["results"]]


MAPPINGS = (
    ("unit", "PCE", "U", "Unit", None),
    ("vat", "TVA20", "V20", "Standard VAT", 20),
    ("family", "FRESH", "F1", "Fresh products", None),
)


async def seed_mappings(db: Conn, vendor_id: str, mappings: tuple[Any, ...] = MAPPINGS) -> None:
    """Mappings the item builder's codes need, written as a DBA would."""
    for mapping_type, erp_code, resto_code, label, rate in mappings:
        await db.execute(
            "INSERT INTO erp_code_mappings "
            "(vendor_id, mapping_type, erp_code, resto_code, resto_label, vat_rate) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [vendor_id, mapping_type, erp_code, resto_code, label, rate],
        )


async def rows_of(db: Conn, query: str, *params: Any) -> list[dict[str, Any]]:
    """All rows of a query."""
    cur = await db.execute(query, list(params))
    return await cur.fetchall()


async def eventually(check: Callable[[], Any], seconds: float = 20) -> Any:
    """Poll an async check until it returns something truthy (or give its last value)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)
