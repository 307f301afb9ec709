"""Liveness and readiness probes (public)."""

from __future__ import annotations

from aiohttp import web

from restosync import __version__
from restosync.models.health import Liveness
from restosync.services import health
from restosync.web.keys import POOL, SETTINGS
from restosync.web.responses import model_response


async def live(request: web.Request) -> web.Response:
    """The process is up; touches nothing else."""
    return model_response(Liveness(version=__version__))


async def ready(request: web.Request) -> web.Response:
    """Every subsystem; 503 while the database is down."""
    report = await health.readiness(request.app[POOL], request.app[SETTINGS])
    return model_response(report, status=503 if report.status == "down" else 200)
