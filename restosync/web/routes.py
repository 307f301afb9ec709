"""Every URL of the service in one list, with what the OpenAPI document says of it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from restosync.models.health import Liveness, Readiness
from restosync.web.handlers import health, meta

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Security = Literal["public", "api_key", "agent_token", "enrolment_or_agent_token"]


@dataclass(frozen=True)
class Route:
    """One endpoint: how it is served and how it is documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    security: Security = "public"
    body: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    raw_response: str | None = None  # content type of a response that is not a model

    @property
    def name(self) -> str:
        """Unique name: the route's name in aiohttp and its operationId in OpenAPI."""
        words = re.sub(r"[^A-Za-z0-9]+", "_", self.path).strip("_")
        return f"{self.method.lower()}_{words}"


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/health/live",
        health.live,
        "Liveness: the process is up",
        "operations",
        responses={200: Liveness},
    ),
    Route(
        "GET",
        "/health",
        health.ready,
        "Readiness of every subsystem",
        "operations",
        responses={200: Readiness, 503: Readiness},
    ),
    Route(
        "GET",
        "/api/openapi.json",
        meta.openapi_document,
        "This OpenAPI document",
        "operations",
        raw_response="application/json",
    ),
)


def add_routes(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> None:
    """Register every route on the application."""
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
