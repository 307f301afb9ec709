"""Typed keys of the aiohttp application and request."""

from __future__ import annotations

from typing import Any

import procrastinate
from aiohttp import web

from restosync.db.pool import Pool
from restosync.services.agent_auth import AgentAuthenticator
from restosync.services.audit import Actor
from restosync.services.mappings import MappingResolver
from restosync.services.metrics import HttpMetrics
from restosync.services.ratelimit import RateLimit, RateLimiter
from restosync.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", Pool)
QUEUE_APP = web.AppKey("queue_app", procrastinate.App)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
AGENT_AUTH = web.AppKey("agent_auth", AgentAuthenticator)
HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)
MAPPING_RESOLVER = web.AppKey("mapping_resolver", MappingResolver)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
RATE_LIMITS = web.AppKey("rate_limits", dict[str, RateLimit])
# Route metadata by route name (see routes.py); typed loosely to avoid an import cycle.
ROUTE_TABLE = web.AppKey("route_table", dict[str, Any])
# Request-scoped: the correlation id of this request.
CORRELATION_ID = web.RequestKey("correlation_id", str)
ACTOR = web.RequestKey("actor", Actor)
