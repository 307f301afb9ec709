"""Prometheus exposition (public to the scraper's network; no secrets, no PII); admin metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from restosync.models.metrics import MetricsWindow
from restosync.services import metrics
from restosync.web.keys import HTTP_METRICS, POOL, SETTINGS
from restosync.web.requests import parse_query
from restosync.web.responses import model_response


async def scrape(request: web.Request) -> web.Response:
    """This process's HTTP series and the shared state read from PostgreSQL."""
    body = await metrics.render(request.app[POOL], request.app[SETTINGS], request.app[HTTP_METRICS])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


# --- Admin metrics of one vendor (issue 6) -------------------------------------------


async def vendor_sync_jobs(request: web.Request) -> web.Response:
    """The vendor's sync jobs in the window: counts, success and retry rates, latency."""
    result = await metrics.vendor_sync_job_metrics(
        request.app[POOL], request.match_info["vendorId"], parse_query(request, MetricsWindow)
    )
    return model_response(result)


async def vendor_reconciliation(request: web.Request) -> web.Response:
    """The vendor's reconciliation runs in the window, drift frequency and last run."""
    result = await metrics.vendor_reconciliation_metrics(
        request.app[POOL], request.match_info["vendorId"], parse_query(request, MetricsWindow)
    )
    return model_response(result)
