"""Prometheus exposition (public to the scraper's network; holds no secrets, no PII)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from restosync.services import metrics
from restosync.web.keys import HTTP_METRICS, POOL, SETTINGS


async def scrape(request: web.Request) -> web.Response:
    """This process's HTTP series and the shared state read from PostgreSQL."""
    body = await metrics.render(request.app[POOL], request.app[SETTINGS], request.app[HTTP_METRICS])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
