"""Cross-cutting HTTP concerns: correlation ids, security headers, CORS, access logs."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from restosync.logconfig import correlation
from restosync.web.keys import CORRELATION_ID, HTTP_METRICS, SETTINGS

CORRELATION_HEADER = "X-Correlation-ID"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
}
CORS_ALLOW_HEADERS = (
    "Authorization, Content-Type, X-API-Key, X-Correlation-ID, X-Request-ID, Idempotency-Key"
)
CORS_EXPOSE_HEADERS = "X-Correlation-ID, Retry-After"


@web.middleware
async def correlation_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Bind the caller's X-Correlation-ID / X-Request-ID (or a new one) to the request."""
    candidate = request.headers.get(CORRELATION_HEADER) or request.headers.get("X-Request-ID")
    with correlation(candidate) as correlation_id:
        request[CORRELATION_ID] = correlation_id
        return await handler(request)


@web.middleware
async def cors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Allow browsers from CORS_ORIGINS only; answer their preflight requests."""
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin in request.app[SETTINGS].CORS_ORIGINS
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    if allowed and preflight:
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if allowed:
        assert origin is not None
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        response.headers.add("Vary", "Origin")
    return response


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count every request by route name (never by raw path: unbounded label values)."""
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.name or "unmatched"
    request.app[HTTP_METRICS].observe(
        route, request.method, response.status, time.perf_counter() - started
    )
    return response


async def add_standard_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, errors included, gets these headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    correlation_id = request.get(CORRELATION_ID)
    if correlation_id:
        response.headers[CORRELATION_HEADER] = correlation_id


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request: no query string, no headers, so no secrets."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 2),
                "correlation_id": request.get(CORRELATION_ID),
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
