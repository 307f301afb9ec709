"""Marketplace orders: created with their sync job and push job in one transaction; read back.

`Idempotency-Key`: a client (its API key's fingerprint) that repeats a key gets the order
it created with it, never a second one, provided the request is the same (else 409).
Concurrent twins are settled by the unique constraint on (client_key, idempotency_key):
the insert of the loser does nothing and it answers with the winner's order.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import procrastinate

from restosync.db import orders as orders_db
from restosync.db import sync_jobs as sync_jobs_db
from restosync.db.orders import CatalogItem
from restosync.db.pool import Connection, Pool, connection, transaction
from restosync.errors import Conflict, FieldError, InvalidInput, NotFound
from restosync.models.orders import (
    Address,
    CreateOrder,
    OrderData,
    OrderFilter,
    OrderLine,
    OrderSummary,
    OrderView,
)
from restosync.models.pagination import Page, PageMeta, PageQuery
from restosync.queue import QUEUE_ORDER_SYNC, TASK_PUSH_ORDER, vendor_lock
from restosync.services.audit import Actor
from restosync.services.order_totals import order_totals, price_lines
from restosync.settings import Settings

logger = logging.getLogger(__name__)

OPERATION_CREATE_ORDER = "create_order"
CURRENCY = "EUR"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class CreatedOrder:
    """The answer to a creation: the order, and whether this request created it."""

    order: OrderView
    created: bool


def request_fingerprint(request: CreateOrder) -> str:
    """SHA-256 of the request in canonical form (sorted keys, no nulls, normalized numbers)."""
    canonical = orjson.dumps(
        request.model_dump(by_alias=True, exclude_none=True),
        option=orjson.OPT_SORT_KEYS,
        default=_canonical_decimal,
    )
    return hashlib.sha256(canonical).hexdigest()


def new_order_number(now: datetime | None = None) -> str:
    """`RS-<yyyymmdd>-<16 hex>`: 64 random bits a day, so collisions are not a concern."""
    day = (now or datetime.now(UTC)).strftime("%Y%m%d")
    return f"RS-{day}-{secrets.token_hex(8).upper()}"


def check_idempotency_key(value: str | None) -> str | None:
    """The Idempotency-Key header, if sent: 1-255 visible ASCII characters, else 400."""
    if value is None:
        return None
    if not 0 < len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH or not value.isascii():
        raise InvalidInput(
            errors=(FieldError(("header", "Idempotency-Key"), "must be 1-255 ASCII characters"),)
        )
    if not value.isprintable() or value != value.strip():
        raise InvalidInput(
            errors=(FieldError(("header", "Idempotency-Key"), "must be visible characters"),)
        )
    return value


async def create_order(
    pool: Pool,
    queue_app: procrastinate.App,
    settings: Settings,
    actor: Actor,
    request: CreateOrder,
    idempotency_key: str | None,
) -> CreatedOrder:
    """Create an order, its sync job and its push job in one transaction (SPEC §1)."""
    fingerprint = request_fingerprint(request)
    if idempotency_key is not None:
        async with connection(pool) as conn:
            earlier = await orders_db.by_idempotency_key(conn, actor.fingerprint, idempotency_key)
        if earlier is not None:
            return await _replay(pool, earlier, fingerprint)
    async with transaction(pool) as conn:
        catalog = await _checked_catalog(conn, request)
        order_id = await _insert_order_and_job(
            conn, queue_app, settings, actor, request, catalog, idempotency_key, fingerprint
        )
    if order_id is None:
        assert idempotency_key is not None
        async with connection(pool) as conn:
            earlier = await orders_db.by_idempotency_key(conn, actor.fingerprint, idempotency_key)
        assert earlier is not None, "the conflicting order is committed"
        return await _replay(pool, earlier, fingerprint)
    logger.info("order created", extra={"order_id": str(order_id), "vendor_id": request.vendor_id})
    return CreatedOrder(await get_order(pool, str(order_id)), created=True)


async def get_order(pool: Pool, order_id: str) -> OrderView:
    """One order with its lines and ERP sync state."""
    try:
        key = UUID(order_id)
    except ValueError:
        raise NotFound(f"No order {order_id!r}.") from None
    async with connection(pool) as conn:
        order = await orders_db.view(conn, key)
    if order is None:
        raise NotFound(f"No order {order_id!r}.")
    return order


async def list_orders(pool: Pool, filters: OrderFilter, page: PageQuery) -> Page[OrderSummary]:
    """Orders, newest first."""
    async with connection(pool) as conn:
        rows, total = await orders_db.summaries(
            conn, page, vendor_id=filters.vendor_id, status=filters.status
        )
    return Page[OrderSummary](data=rows, meta=PageMeta.of(page, total))


async def _replay(pool: Pool, earlier: orders_db.IdempotentOrder, fingerprint: str) -> CreatedOrder:
    if earlier.request_fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was used for a different order request.")
    return CreatedOrder(await get_order(pool, str(earlier.id)), created=False)


async def _checked_catalog(conn: Connection, request: CreateOrder) -> dict[str, CatalogItem]:
    """The ordered items of the vendor's catalog; 422 without an agent or with unknown SKUs."""
    if not await orders_db.vendor_has_active_agent(conn, request.vendor_id):
        raise InvalidInput(
            f"Vendor {request.vendor_id!r} has no active agent: its orders cannot reach an ERP.",
            errors=(FieldError(("vendorId",), "the vendor has no active agent"),),
        )
    skus = [line.sku for line in request.items]
    catalog = {
        item.sku: item for item in await orders_db.catalog_items(conn, request.vendor_id, skus)
    }
    unknown = [(i, sku) for i, sku in enumerate(skus) if sku not in catalog]
    if unknown:
        names = ", ".join(sorted({repr(sku) for _, sku in unknown}))
        raise InvalidInput(
            f"Unknown SKUs for vendor {request.vendor_id!r}: {names}.",
            errors=tuple(
                FieldError(("items", i, "sku"), f"unknown SKU {sku!r} for this vendor")
                for i, sku in unknown
            ),
        )
    return catalog


async def _insert_order_and_job(
    conn: Connection,
    queue_app: procrastinate.App,
    settings: Settings,
    actor: Actor,
    request: CreateOrder,
    catalog: dict[str, CatalogItem],
    idempotency_key: str | None,
    fingerprint: str,
) -> UUID | None:
    """Order, lines, push job and sync job on `conn`; None when the Idempotency-Key is taken."""
    order_id, sync_job_id = uuid.uuid4(), uuid.uuid4()
    lines = price_lines(request.items, catalog)
    order_data = _order_data(order_id, request, lines)
    inserted = await orders_db.insert(
        conn,
        {
            **order_data.model_dump(
                by_alias=False, exclude={"items", "billing_address", "shipping_address"}
            ),
            "billing_address": _address(request.billing_address),
            "shipping_address": _address(request.shipping_address),
            "client_key": actor.fingerprint,
            "idempotency_key": idempotency_key,
            "request_fingerprint": fingerprint,
            "correlation_id": actor.correlation_id,
        },
    )
    if not inserted:
        return None
    await orders_db.insert_lines(
        conn, order_id, lines, [catalog[line.sku].id for line in request.items]
    )
    # The job is inserted on this connection: it commits or rolls back with the order.
    queue_job_id = await queue_app.configure_task(
        TASK_PUSH_ORDER,
        connection=conn,
        queue=QUEUE_ORDER_SYNC,
        lock=vendor_lock(request.vendor_id),
    ).defer_async(sync_job_id=str(sync_job_id), correlation_id=actor.correlation_id)
    await sync_jobs_db.insert(
        conn,
        id=sync_job_id,
        vendor_id=request.vendor_id,
        operation=OPERATION_CREATE_ORDER,
        order_id=order_id,
        payload={
            "syncJobId": str(sync_job_id),
            "orderId": str(order_id),
            "orderData": order_data.model_dump(mode="json"),
        },
        max_attempts=settings.ORDER_SYNC_MAX_ATTEMPTS,
        procrastinate_job_id=queue_job_id,
        correlation_id=actor.correlation_id,
    )
    return order_id


def _order_data(order_id: UUID, request: CreateOrder, lines: list[OrderLine]) -> OrderData:
    totals = order_totals(lines)
    return OrderData(
        id=order_id,
        order_number=request.order_number or new_order_number(),
        vendor_id=request.vendor_id,
        currency=CURRENCY,
        customer_id=request.customer_id,
        customer_email=request.customer_email,
        customer_phone=request.customer_phone,
        erp_customer_code=request.erp_customer_code,
        billing_address=request.billing_address,
        shipping_address=request.shipping_address,
        warehouse_id=request.warehouse_id,
        delivery_date=request.delivery_date,
        customer_notes=request.customer_notes,
        internal_notes=request.internal_notes,
        subtotal=totals.subtotal,
        vat_total=totals.vat_total,
        total=totals.total,
        items=lines,
    )


def _address(address: Address | None) -> dict[str, Any] | None:
    # Stored as received on the wire: camelCase keys (see the orders.billing_address comment).
    return address.model_dump(mode="json", exclude_none=True) if address is not None else None


def _canonical_decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(type(value).__name__)
