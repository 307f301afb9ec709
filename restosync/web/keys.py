"""Typed keys of the aiohttp application and request."""

from __future__ import annotations

import procrastinate
from aiohttp import web

from restosync.db.pool import Pool
from restosync.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", Pool)
QUEUE_APP = web.AppKey("queue_app", procrastinate.App)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)
# Request-scoped: the correlation id of this request.
CORRELATION_ID = web.RequestKey("correlation_id", str)
