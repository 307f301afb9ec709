"""The API's description of itself."""

from __future__ import annotations

from aiohttp import web

from restosync.web.keys import OPENAPI_DOCUMENT
from restosync.web.responses import JSON


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document, generated from the route list and pydantic models."""
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type=JSON)
