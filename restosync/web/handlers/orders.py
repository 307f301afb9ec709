"""Marketplace order endpoints (X-API-Key) and the agents' order callback (agent token)."""

from __future__ import annotations

from aiohttp import web

from restosync.models.orders import AgentCallback, CreateOrder, OrderFilter
from restosync.models.pagination import PageQuery
from restosync.services import callbacks, orders
from restosync.web.auth import bearer_token
from restosync.web.keys import ACTOR, AGENT_AUTH, POOL, QUEUE_APP, SETTINGS
from restosync.web.requests import parse_body, parse_query
from restosync.web.responses import model_response

# 500 lines with long descriptions and two addresses fit well within this.
MAX_ORDER_BODY_BYTES = 2 * 1024 * 1024


async def create_order(request: web.Request) -> web.Response:
    """Create an order and, in the same transaction, the job that pushes it to the ERP.

    Totals are computed here (Decimal, half-up to the cent per line). With an
    `Idempotency-Key` header (1-255 characters), repeating the request answers 200 with
    the order it created (`Idempotent-Replayed: true`) instead of creating another; the
    same key with a different body is a 409.
    """
    body = await parse_body(request, CreateOrder, MAX_ORDER_BODY_BYTES)
    key = orders.check_idempotency_key(request.headers.get("Idempotency-Key"))
    app = request.app
    result = await orders.create_order(
        app[POOL], app[QUEUE_APP], app[SETTINGS], request[ACTOR], body, key
    )
    response = model_response(result.order, status=201 if result.created else 200)
    response.headers["Location"] = f"/api/orders/{result.order.id}"
    if not result.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def get_order(request: web.Request) -> web.Response:
    """One order with its lines and ERP sync state (erpReference, erpStatus, syncJob)."""
    return model_response(await orders.get_order(request.app[POOL], request.match_info["id"]))


async def list_orders(request: web.Request) -> web.Response:
    """Orders, newest first; filters `vendorId`, `status`."""
    page = await orders.list_orders(
        request.app[POOL], parse_query(request, OrderFilter), parse_query(request, PageQuery)
    )
    return model_response(page)


async def order_callback(request: web.Request) -> web.Response:
    """The agent's outcome for an order it answered 202 for.

    Only the token of the sync job's vendor is accepted (any other token, or an unknown
    job: 401). Repeating a callback is harmless (`duplicate: true`); one contradicting
    the recorded outcome is a 409 and changes nothing.
    """
    body = await parse_body(request, AgentCallback)
    ack = await callbacks.handle_callback(
        request.app[POOL], request.app[AGENT_AUTH], body, bearer_token(request)
    )
    return model_response(ack)
