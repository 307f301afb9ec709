"""Agent pushes: POST /api/sync/{items,stock,warehouses}[/batch] (SPEC §3.1, §4.1)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from restosync.errors import BadRequest, FieldError, Forbidden, InvalidInput, PayloadTooLarge
from restosync.models.ingest import Entity, Mode, SnapshotPage, SyncQuery
from restosync.services import ingest
from restosync.web.auth import VENDOR_HEADER, authenticate_agent, bearer_token, limit_agent
from restosync.web.keys import AGENT_AUTH, CORRELATION_ID, MAPPING_RESOLVER, POOL, SETTINGS
from restosync.web.requests import field_errors, parse_json, parse_query, read_json_bytes
from restosync.web.responses import JSON

MAX_VENDOR_ID = 100


async def push(request: web.Request, entity: Entity, mode: Mode) -> web.Response:
    """Validate, deduplicate, map and upsert the pushed rows in one transaction."""
    max_rows, max_bytes = _limits(request, mode)
    query = parse_query(request, SyncQuery)
    agent = await _authenticate_before_reading(request)
    body = await read_json_bytes(request, max_bytes)
    data = parse_json(body)
    vendor_id, rows = _envelope(data, entity)
    snapshot = _snapshot(data, mode)
    if agent is None:
        vendor_id = await authenticate_agent(request, vendor_id)
    elif agent != vendor_id:
        raise Forbidden("vendorId is not the authenticated agent's vendor.")
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
            snapshot=snapshot,
        ),
    )
    return web.Response(body=result.json(), content_type=JSON)


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


async def _authenticate_before_reading(request: web.Request) -> str | None:
    """The agent's vendor, its token checked before a body of up to 10 MB is read.

    Only an agent that names itself (`X-Vendor-ID`, as the reference agent does) can be
    checked before reading; without that header, nor a token, the answer is 401 at once.
    With a token but no header, the body's `vendorId` names the agent: None, check later.
    """
    claimed = request.headers.get(VENDOR_HEADER, "").strip()
    token = bearer_token(request)
    if not claimed and token is not None:
        return None
    return await request.app[AGENT_AUTH].authenticate(claimed, token)


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


def _snapshot(data: dict[str, Any], mode: Mode) -> SnapshotPage | None:
    """The `snapshot` of a full push (docs/ingest.md); 400 on an incremental endpoint."""
    raw = data.get("snapshot")
    if raw is None:
        return None
    if mode != "batch":
        raise BadRequest(
            "A snapshot is accepted only by the full-push endpoints "
            "(POST /api/sync/{items|stock|warehouses}/batch)."
        )
    if not isinstance(raw, dict):
        error = FieldError(("snapshot",), "must be an object {id, page, last}")
        raise InvalidInput(errors=(error,))
    try:
        return SnapshotPage.model_validate(raw)
    except ValidationError as exc:
        errors = tuple(FieldError(("snapshot", *e.loc), e.msg) for e in field_errors(exc))
        raise InvalidInput(errors=errors) from None
