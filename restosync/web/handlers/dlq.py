"""Admin endpoints of sync jobs and the dead-letter queue (X-API-Key; mutations audited)."""

from __future__ import annotations

from aiohttp import web

from restosync.models.dlq import BulkRetry, DlqFilter, SyncJobFilter
from restosync.models.pagination import PageQuery
from restosync.services import dlq
from restosync.web.keys import ACTOR, POOL, SETTINGS
from restosync.web.requests import parse_body, parse_query
from restosync.web.responses import model_response


async def list_sync_jobs(request: web.Request) -> web.Response:
    """Sync jobs, filtered and paginated."""
    page = await dlq.list_sync_jobs(
        request.app[POOL], parse_query(request, SyncJobFilter), parse_query(request, PageQuery)
    )
    return model_response(page)


async def get_sync_job(request: web.Request) -> web.Response:
    """One sync job with its payload."""
    return model_response(await dlq.get_sync_job(request.app[POOL], request.match_info["id"]))


async def sync_status(request: web.Request) -> web.Response:
    """Where one sync job stands."""
    return model_response(await dlq.sync_status(request.app[POOL], request.match_info["jobId"]))


async def list_entries(request: web.Request) -> web.Response:
    """Dead letters, open ones by default."""
    page = await dlq.list_entries(
        request.app[POOL], parse_query(request, DlqFilter), parse_query(request, PageQuery)
    )
    return model_response(page)


async def get_entry(request: web.Request) -> web.Response:
    """One dead letter."""
    return model_response(await dlq.get_entry(request.app[POOL], request.match_info["id"]))


async def resolve_entry(request: web.Request) -> web.Response:
    """Close a dead letter without re-running it."""
    entry = await dlq.resolve_entry(request.app[POOL], request[ACTOR], request.match_info["id"])
    return model_response(entry)


async def retry_entry(request: web.Request) -> web.Response:
    """Re-enqueue one dead letter: a new sync job with the original payload."""
    retried = await dlq.retry_entry(
        request.app[POOL], request.app[SETTINGS], request[ACTOR], request.match_info["id"]
    )
    return model_response(retried, status=201)


async def retry_entries(request: web.Request) -> web.Response:
    """Re-enqueue every open dead letter matching the filters."""
    selection = await parse_body(request, BulkRetry)
    result = await dlq.retry_entries(
        request.app[POOL], request.app[SETTINGS], request[ACTOR], selection
    )
    return model_response(result)
