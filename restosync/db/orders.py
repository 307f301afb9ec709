"""Repository of orders and order_items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from restosync.db.paging import fetch_page
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.errors import Conflict
from restosync.models.orders import OrderLine, OrderSummary, OrderView, SyncJobState
from restosync.models.pagination import PageQuery

_ORDER_NUMBER_CONSTRAINT = "uq_orders_order_number"
_JOB_PREFIX = "job_"


@dataclass(frozen=True)
class CatalogItem:
    """An item of the vendor's catalog, as order pricing needs it."""

    sku: str
    id: UUID
    vat_rate: Decimal
    unit_code: str | None


@dataclass(frozen=True)
class IdempotentOrder:
    """The order a client created under an Idempotency-Key."""

    id: UUID
    request_fingerprint: str | None


async def vendor_has_active_agent(conn: Connection, vendor_id: str) -> bool:
    """Whether the vendor has an agent that is not deregistered."""
    cur = await conn.execute(QUERIES["vendor_has_active_agent"], {"vendor_id": vendor_id})
    row = await cur.fetchone()
    return bool(row and row["active"])


async def catalog_items(conn: Connection, vendor_id: str, skus: Sequence[str]) -> list[CatalogItem]:
    """The vendor's items among `skus`."""
    cur = await conn.execute(
        QUERIES["catalog_items_by_sku"], {"vendor_id": vendor_id, "skus": list(set(skus))}
    )
    return [CatalogItem(**row) for row in await cur.fetchall()]


async def by_idempotency_key(
    conn: Connection, client_key: str, idempotency_key: str
) -> IdempotentOrder | None:
    """The order created by this client under this key, if any."""
    cur = await conn.execute(
        QUERIES["order_by_idempotency_key"],
        {"client_key": client_key, "idempotency_key": idempotency_key},
    )
    row = await cur.fetchone()
    return IdempotentOrder(**row) if row else None


async def insert(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert an order; False when the client's Idempotency-Key is taken (a concurrent twin).

    A duplicate order number is a 409 (the transaction is then aborted).
    """
    params = {
        **values,
        "billing_address": _jsonb(values["billing_address"]),
        "shipping_address": _jsonb(values["shipping_address"]),
    }
    try:
        cur = await conn.execute(QUERIES["insert_order"], params)
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name == _ORDER_NUMBER_CONSTRAINT:
            raise Conflict(f"Order number {values['order_number']!r} exists already.") from None
        raise
    return await cur.fetchone() is not None


async def insert_lines(
    conn: Connection,
    order_id: UUID,
    lines: Sequence[OrderLine],
    item_ids: Sequence[UUID | None],
) -> None:
    """Insert every line of an order in one statement; `item_ids[i]` is line i's item."""
    await conn.execute(
        QUERIES["insert_order_items"],
        {
            "order_id": order_id,
            "line_numbers": [line.line_number for line in lines],
            "skus": [line.sku for line in lines],
            "item_ids": list(item_ids),
            "descriptions": [line.description for line in lines],
            "quantities": [line.quantity for line in lines],
            "unit_prices": [line.unit_price for line in lines],
            "vat_rates": [line.vat_rate for line in lines],
            "discount_rates": [line.discount_rate for line in lines],
            "unit_codes": [line.unit_code for line in lines],
            "line_subtotals": [line.line_subtotal for line in lines],
            "line_vats": [line.line_vat for line in lines],
            "line_totals": [line.line_total for line in lines],
        },
    )


async def view(conn: Connection, order_id: UUID) -> OrderView | None:
    """One order with its lines and latest sync job."""
    cur = await conn.execute(QUERIES["order_view"], {"order_id": order_id})
    row = await cur.fetchone()
    if row is None:
        return None
    cur = await conn.execute(QUERIES["order_lines"], {"order_id": order_id})
    lines = [OrderLine.model_validate(line) for line in await cur.fetchall()]
    order = {k: v for k, v in row.items() if not k.startswith(_JOB_PREFIX)}
    job = {k.removeprefix(_JOB_PREFIX): v for k, v in row.items() if k.startswith(_JOB_PREFIX)}
    sync_job = SyncJobState.model_validate(job) if job["id"] is not None else None
    return OrderView.model_validate({**order, "items": lines, "sync_job": sync_job})


async def summaries(
    conn: Connection, page: PageQuery, *, vendor_id: str | None, status: str | None
) -> tuple[list[OrderSummary], int]:
    """One page of orders, newest first, and how many match in all."""
    rows, total = await fetch_page(
        conn, QUERIES["order_summaries"], {"vendor_id": vendor_id, "status": status}, page
    )
    return [
        OrderSummary.model_validate({**row, "total": row["order_total"]}) for row in rows
    ], total


def _jsonb(value: Any) -> Jsonb | None:
    return Jsonb(value) if value is not None else None
