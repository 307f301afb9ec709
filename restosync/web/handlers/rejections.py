"""Admin endpoints of rejected ingest rows (X-API-Key; the replay is audited)."""

from __future__ import annotations

from aiohttp import web

from restosync.models.ingest import RejectionFilter, ReplayRequest
from restosync.models.pagination import PageQuery
from restosync.services import ingest
from restosync.web.keys import ACTOR, MAPPING_RESOLVER, POOL
from restosync.web.requests import parse_body, parse_query
from restosync.web.responses import model_response


async def list_rejections(request: web.Request) -> web.Response:
    """Rejected rows (latest version per key) and why, newest first."""
    page = await ingest.list_rejections(
        request.app[POOL], parse_query(request, RejectionFilter), parse_query(request, PageQuery)
    )
    return model_response(page)


async def replay_rejections(request: web.Request) -> web.Response:
    """Re-run a vendor's rejected rows now through the ingest pipeline."""
    body = await parse_body(request, ReplayRequest)
    result = await ingest.replay_for_admin(
        request.app[POOL], request.app[MAPPING_RESOLVER], request[ACTOR], body
    )
    return model_response(result)
