"""Admin endpoints of reconciliation (X-API-Key; the trigger is audited)."""

from __future__ import annotations

from aiohttp import web

from restosync.models.pagination import PageQuery
from restosync.models.reconciliation import EventFilter, TriggerReconciliation
from restosync.services import reconciliation_jobs
from restosync.web.keys import ACTOR, POOL, QUEUE_APP
from restosync.web.requests import parse_body, parse_query
from restosync.web.responses import model_response


async def trigger(request: web.Request) -> web.Response:
    """Defer a reconciliation run of one vendor, or of every active vendor."""
    body = await parse_body(request, TriggerReconciliation)
    result = await reconciliation_jobs.trigger(
        request.app[POOL], request.app[QUEUE_APP], request[ACTOR], body
    )
    return model_response(result, status=202)


async def list_events(request: web.Request) -> web.Response:
    """The reconciliation event log, newest first."""
    page = await reconciliation_jobs.list_events(
        request.app[POOL], parse_query(request, EventFilter), parse_query(request, PageQuery)
    )
    return model_response(page)
