"""Admin endpoints of the circuit breakers (X-API-Key; the reset is audited)."""

from __future__ import annotations

from aiohttp import web

from restosync.models.breakers import ResetBreaker
from restosync.services import breakers
from restosync.web.keys import ACTOR, POOL
from restosync.web.requests import parse_body
from restosync.web.responses import model_response


async def breaker_status(request: web.Request) -> web.Response:
    """Every breaker the worker processes reported."""
    return model_response(await breakers.status(request.app[POOL]))


async def reset_breaker(request: web.Request) -> web.Response:
    """Close a vendor's breakers in every worker process."""
    reset = await parse_body(request, ResetBreaker)
    return model_response(await breakers.reset(request.app[POOL], request[ACTOR], reset))
