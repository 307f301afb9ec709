"""Every URL of the service in one list, with how it is protected and documented."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web
from pydantic import BaseModel

from restosync.models.agents import (
    AgentFilter,
    AgentRegistered,
    AgentView,
    Heartbeat,
    HeartbeatAck,
    RegisterAgent,
    UpdateAgent,
)
from restosync.models.audit import AuditEntry, AuditFilter
from restosync.models.health import Liveness, Readiness
from restosync.models.pagination import Page, PageQuery
from restosync.web.handlers import admin, agents, health, meta, metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Security = Literal["public", "api_key", "agent_token", "enrolment_or_agent_token"]


@dataclass(frozen=True)
class Route:
    """One endpoint: how it is served, protected, rate-limited and documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    security: Security = "public"
    body: type[BaseModel] | None = None
    query: tuple[type[BaseModel], ...] = ()
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    raw_response: str | None = None  # content type of a response that is not a model
    # Name of the rate limit (services/ratelimit.py) and what it counts per.
    rate_limit: str | None = "default"
    rate_limit_by: Literal["ip", "agent"] = "ip"

    @property
    def name(self) -> str:
        """Unique name: the route's name in aiohttp and its operationId in OpenAPI."""
        words = re.sub(r"[^A-Za-z0-9]+", "_", self.path).strip("_")
        return f"{self.method.lower()}_{words}"


OPERATIONS = "operations"
AGENTS = "agents"
ADMIN = "admin"

ROUTES: tuple[Route, ...] = (
    # operations (public probes are not rate-limited)
    Route("GET", "/health/live", health.live, "Liveness: the process is up", OPERATIONS,
          responses={200: Liveness}, rate_limit=None),
    Route("GET", "/health", health.ready, "Readiness of every subsystem", OPERATIONS,
          responses={200: Readiness, 503: Readiness}, rate_limit=None),
    Route("GET", "/api/openapi.json", meta.openapi_document, "This OpenAPI document",
          OPERATIONS, raw_response="application/json"),
    Route("GET", "/metrics", metrics.scrape, "Prometheus metrics", OPERATIONS,
          raw_response="text/plain", rate_limit=None),
    # agents
    Route("POST", "/api/agents/register", agents.register, "Enrol or re-register an agent",
          AGENTS, security="enrolment_or_agent_token", body=RegisterAgent,
          responses={200: AgentRegistered, 201: AgentRegistered, 409: None},
          rate_limit="register"),
    Route("POST", "/api/agents/heartbeat", agents.heartbeat, "Agent heartbeat", AGENTS,
          security="agent_token", body=Heartbeat, responses={200: HeartbeatAck},
          rate_limit="heartbeat", rate_limit_by="agent"),
    # admin
    Route("GET", "/api/admin/agents", admin.list_agents, "List agents with live health", ADMIN,
          security="api_key", query=(AgentFilter, PageQuery),
          responses={200: Page[AgentView]}),
    Route("GET", "/api/admin/agents/{vendorId}", admin.get_agent, "One agent", ADMIN,
          security="api_key", responses={200: AgentView, 404: None}),
    Route("PUT", "/api/admin/agents/{vendorId}", admin.update_agent,
          "Change an agent's URL or ERP type", ADMIN, security="api_key", body=UpdateAgent,
          responses={200: AgentView, 404: None}),
    Route("DELETE", "/api/admin/agents/{vendorId}", admin.deregister_agent,
          "Deregister an agent", ADMIN, security="api_key", responses={204: None, 404: None}),
    Route("GET", "/api/admin/audit", admin.list_audit, "The audit log", ADMIN,
          security="api_key", query=(AuditFilter, PageQuery),
          responses={200: Page[AuditEntry]}),
)  # fmt: skip


def add_routes(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> dict[str, Route]:
    """Register every route on the application; return them by name."""
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
    return {route.name: route for route in routes}
