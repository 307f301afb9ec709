"""Agent pushes: POST /api/sync/{items,stock,warehouses}[/batch] (SPEC §3.1, §4.1)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from restosync.errors import BadRequest, FieldError, InvalidInput, PayloadTooLarge
from restosync.models.ingest import Entity, Mode, SyncQuery
from restosync.services import ingest
from restosync.web.auth import authenticate_agent, limit_agent
from restosync.web.keys import CORRELATION_ID, MAPPING_RESOLVER, POOL, SETTINGS
from restosync.web.requests import parse_json, parse_query, read_json_bytes
from restosync.web.responses import model_response

MAX_VENDOR_ID = 100


async def push(request: web.Request, entity: Entity, mode: Mode) -> web.Response:
    """Validate, deduplicate, map and upsert the pushed rows in one transaction."""
    max_rows, max_bytes = _limits(request, mode)
    query = parse_query(request, SyncQuery)
    body = await read_json_bytes(request, max_bytes)
    vendor_id, rows = _envelope(parse_json(body), entity)
    vendor_id = await authenticate_agent(request, vendor_id)
    await limit_agent(request, vendor_id)
    if len(rows) > max_rows:
        raise PayloadTooLarge(
            f"The request carries {len(rows)} {entity} rows; this endpoint accepts at most "
            f"{max_rows} per request."
        )
    result = await ingest.ingest_push(
        request.app[POOL],
        request.app[MAPPING_RESOLVER],
        ingest.Push(
            vendor_id=vendor_id,
            entity=entity,
            mode=mode,
            rows=rows,
            body_bytes=len(body),
            dry_run=query.dry_run,
            correlation_id=request.get(CORRELATION_ID),
            may_contain_nul=b"\\u0000" in body,
        ),
    )
    return model_response(result, exclude_none=True)


async def push_items(request: web.Request) -> web.Response:
    """Incremental push of items (≤ 500 rows, ≤ 5 MB)."""
    return await push(request, "items", "incremental")


async def push_items_batch(request: web.Request) -> web.Response:
    """Full push of items (≤ 5000 rows, ≤ 10 MB)."""
    return await push(request, "items", "batch")


async def push_stock(request: web.Request) -> web.Response:
    """Incremental push of stock rows."""
    return await push(request, "stock", "incremental")


async def push_stock_batch(request: web.Request) -> web.Response:
    """Full push of stock rows."""
    return await push(request, "stock", "batch")


async def push_warehouses(request: web.Request) -> web.Response:
    """Incremental push of warehouses."""
    return await push(request, "warehouses", "incremental")


async def push_warehouses_batch(request: web.Request) -> web.Response:
    """Full push of warehouses."""
    return await push(request, "warehouses", "batch")


def _limits(request: web.Request, mode: Mode) -> tuple[int, int]:
    settings = request.app[SETTINGS]
    if mode == "batch":
        return settings.INGEST_BATCH_MAX_ROWS, settings.INGEST_BATCH_MAX_BYTES
    return settings.INGEST_MAX_ROWS, settings.INGEST_MAX_BYTES


def _envelope(data: Any, entity: Entity) -> tuple[str, list[Any]]:
    """`vendorId` and the list of rows; 400 when the structure is wrong (rows are checked one
    by one later, so that a bad row fails alone)."""
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    vendor_id = data.get("vendorId")
    if not isinstance(vendor_id, str):
        raise BadRequest("The request body must carry vendorId (a string).")
    if not 1 <= len(vendor_id) <= MAX_VENDOR_ID:
        raise InvalidInput(errors=(FieldError(("vendorId",), "must be 1 to 100 characters"),))
    rows = data.get(entity)
    if not isinstance(rows, list):
        raise BadRequest(f"The request body must carry {entity!r}: a list of rows.")
    return vendor_id, rows
