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
from restosync.models.breakers import (  # breakers (issue 5)
    BreakerReset,
    BreakerStatus,
    ResetBreaker,
)
from restosync.models.dlq import (  # dlq admin (issue 5)
    BulkRetry,
    BulkRetryResult,
    DlqEntry,
    DlqFilter,
    DlqRetried,
    SyncJobFilter,
    SyncJobStatusView,
    SyncJobView,
)
from restosync.models.health import Liveness, Readiness
from restosync.models.ingest import (  # ingest (issue 4)
    IngestResult,
    PushItems,
    PushItemsBatch,
    PushStock,
    PushStockBatch,
    PushWarehouses,
    PushWarehousesBatch,
    RejectionFilter,
    RejectionView,
    ReplayRequest,
    ReplayResult,
    SyncQuery,
)
from restosync.models.mappings import (
    CreateMapping,
    GapQuery,
    Mapping,
    MappingFilter,
    MappingGaps,
    SeedMappings,
    SeedResult,
    UpdateMapping,
)
from restosync.models.metrics import (  # admin metrics (issue 6)
    MetricsWindow,
    ReconciliationMetrics,
    SyncJobMetrics,
)
from restosync.models.orders import (  # orders (issue 5)
    AgentCallback,
    CallbackAck,
    CreateOrder,
    OrderFilter,
    OrderSummary,
    OrderView,
)
from restosync.models.pagination import Page, PageQuery
from restosync.models.reconciliation import (  # reconciliation (issue 6)
    EventFilter,
    ReconciliationEvent,
    TriggerReconciliation,
    TriggerResult,
)
from restosync.web.handlers import (
    admin,
    agents,
    breakers,  # breakers (issue 5)
    dlq,  # dlq admin (issue 5)
    health,
    mappings,  # mappings (issue 4)
    meta,
    metrics,
    orders,  # orders (issue 5)
    reconciliation,  # reconciliation (issue 6)
    rejections,  # ingest (issue 4)
    sync,  # ingest (issue 4)
)

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
ORDERS = "orders"
SYNC = "sync"  # ingest (issue 4)
# ingest (issue 4): the answer of every push (problems 400/401/403/413/415/422 are added).
_SYNC_ANSWERS: dict[int, type[BaseModel] | None] = {200: IngestResult}

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
    # mappings (issue 4)
    Route("GET", "/api/admin/mappings", mappings.list_mappings, "List ERP code mappings", ADMIN,
          security="api_key", query=(MappingFilter, PageQuery), responses={200: Page[Mapping]}),
    Route("POST", "/api/admin/mappings", mappings.create_mapping, "Create a mapping", ADMIN,
          security="api_key", body=CreateMapping, responses={201: Mapping, 409: None}),
    Route("PUT", "/api/admin/mappings/{id}", mappings.update_mapping, "Change a mapping", ADMIN,
          security="api_key", body=UpdateMapping, responses={200: Mapping, 404: None}),
    Route("DELETE", "/api/admin/mappings/{id}", mappings.delete_mapping, "Delete a mapping",
          ADMIN, security="api_key", responses={204: None, 404: None}),
    Route("POST", "/api/admin/mappings/seed", mappings.seed_mappings,
          "Create or replace up to 5000 mappings", ADMIN, security="api_key",
          body=SeedMappings, responses={200: SeedResult}),
    Route("GET", "/api/admin/mappings/gaps", mappings.mapping_gaps,
          "Unmapped ERP codes and the rows they block", ADMIN, security="api_key",
          query=(GapQuery,), responses={200: MappingGaps}),
    # ingest (issue 4)
    Route("POST", "/api/sync/items", sync.push_items, "Push items (incremental)", SYNC,
          security="agent_token", body=PushItems, query=(SyncQuery,), responses=_SYNC_ANSWERS,
          rate_limit="sync", rate_limit_by="agent"),
    Route("POST", "/api/sync/items/batch", sync.push_items_batch, "Push items (full batch)",
          SYNC, security="agent_token", body=PushItemsBatch, query=(SyncQuery,),
          responses=_SYNC_ANSWERS, rate_limit="sync_batch", rate_limit_by="agent"),
    Route("POST", "/api/sync/stock", sync.push_stock, "Push stock rows (incremental)", SYNC,
          security="agent_token", body=PushStock, query=(SyncQuery,), responses=_SYNC_ANSWERS,
          rate_limit="sync", rate_limit_by="agent"),
    Route("POST", "/api/sync/stock/batch", sync.push_stock_batch,
          "Push stock rows (full batch)", SYNC, security="agent_token", body=PushStockBatch,
          query=(SyncQuery,), responses=_SYNC_ANSWERS, rate_limit="sync_batch",
          rate_limit_by="agent"),
    Route("POST", "/api/sync/warehouses", sync.push_warehouses,
          "Push warehouses (incremental)", SYNC, security="agent_token", body=PushWarehouses,
          query=(SyncQuery,), responses=_SYNC_ANSWERS, rate_limit="sync",
          rate_limit_by="agent"),
    Route("POST", "/api/sync/warehouses/batch", sync.push_warehouses_batch,
          "Push warehouses (full batch)", SYNC, security="agent_token",
          body=PushWarehousesBatch,
          query=(SyncQuery,), responses=_SYNC_ANSWERS, rate_limit="sync_batch",
          rate_limit_by="agent"),
    Route("GET", "/api/admin/rejections", rejections.list_rejections,
          "Rejected ingest rows and why", ADMIN, security="api_key",
          query=(RejectionFilter, PageQuery), responses={200: Page[RejectionView]}),
    Route("POST", "/api/admin/rejections/replay", rejections.replay_rejections,
          "Re-run a vendor's rejected rows now", ADMIN, security="api_key", body=ReplayRequest,
          responses={200: ReplayResult}),
    # end of ingest
    # orders (issue 5)
    Route("POST", "/api/orders", orders.create_order, "Create an order and its ERP push job",
          ORDERS, security="api_key", body=CreateOrder,
          responses={200: OrderView, 201: OrderView, 409: None}),
    Route("GET", "/api/orders", orders.list_orders, "List orders", ORDERS,
          security="api_key", query=(OrderFilter, PageQuery),
          responses={200: Page[OrderSummary]}),
    Route("GET", "/api/orders/{id}", orders.get_order, "One order with its ERP sync state",
          ORDERS, security="api_key", responses={200: OrderView, 404: None}),
    Route("POST", "/api/agents/callback", orders.order_callback,
          "Agent callback: the ERP outcome of an order answered 202", AGENTS,
          security="agent_token", body=AgentCallback, responses={200: CallbackAck, 409: None}),
    # end of orders
    # dlq admin (issue 5)
    Route("GET", "/api/admin/sync-jobs", dlq.list_sync_jobs, "List sync jobs", ADMIN,
          security="api_key", query=(SyncJobFilter, PageQuery),
          responses={200: Page[SyncJobView]}),
    Route("GET", "/api/admin/sync-jobs/{id}", dlq.get_sync_job, "One sync job", ADMIN,
          security="api_key", responses={200: SyncJobView, 404: None}),
    Route("GET", "/api/admin/sync-status/{jobId}", dlq.sync_status,
          "Where one sync job stands", ADMIN, security="api_key",
          responses={200: SyncJobStatusView, 404: None}),
    Route("GET", "/api/admin/dlq", dlq.list_entries, "List dead letters (open by default)",
          ADMIN, security="api_key", query=(DlqFilter, PageQuery),
          responses={200: Page[DlqEntry]}),
    Route("POST", "/api/admin/dlq/retry", dlq.retry_entries,
          "Re-enqueue every open dead letter matching a filter", ADMIN, security="api_key",
          body=BulkRetry, responses={200: BulkRetryResult}),
    Route("GET", "/api/admin/dlq/{id}", dlq.get_entry, "One dead letter", ADMIN,
          security="api_key", responses={200: DlqEntry, 404: None}),
    Route("POST", "/api/admin/dlq/{id}/retry", dlq.retry_entry,
          "Re-enqueue a dead letter with its original payload", ADMIN, security="api_key",
          responses={201: DlqRetried, 404: None, 409: None}),
    Route("POST", "/api/admin/dlq/{id}/resolve", dlq.resolve_entry,
          "Close a dead letter without re-running it", ADMIN, security="api_key",
          responses={200: DlqEntry, 404: None, 409: None}),
    Route("GET", "/api/admin/circuit-breaker/status", breakers.breaker_status,
          "Circuit breakers as the worker processes reported them", ADMIN,
          security="api_key", responses={200: BreakerStatus}),
    Route("POST", "/api/admin/circuit-breaker/reset", breakers.reset_breaker,
          "Close a vendor's circuit breakers in every worker process", ADMIN,
          security="api_key", body=ResetBreaker, responses={200: BreakerReset}),
    # end of dlq admin
    # admin metrics (issue 6)
    Route("GET", "/api/admin/metrics/{vendorId}", metrics.vendor_sync_jobs,
          "A vendor's sync jobs in a window: counts, success and retry rates, latency", ADMIN,
          security="api_key", query=(MetricsWindow,), responses={200: SyncJobMetrics}),
    Route("GET", "/api/admin/metrics/reconciliation/{vendorId}", metrics.vendor_reconciliation,
          "A vendor's reconciliation runs in a window: count, drift frequency, last run",
          ADMIN, security="api_key", query=(MetricsWindow,),
          responses={200: ReconciliationMetrics}),
    # end of admin metrics
    # reconciliation (issue 6)
    Route("POST", "/api/admin/reconciliation/trigger", reconciliation.trigger,
          "Defer a reconciliation run of one vendor, or of every active vendor", ADMIN,
          security="api_key", body=TriggerReconciliation,
          responses={202: TriggerResult, 404: None}),
    Route("GET", "/api/admin/reconciliation/events", reconciliation.list_events,
          "The reconciliation event log, newest first", ADMIN, security="api_key",
          query=(EventFilter, PageQuery), responses={200: Page[ReconciliationEvent]}),
    # end of reconciliation
)  # fmt: skip


def add_routes(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> dict[str, Route]:
    """Register every route on the application; return them by name."""
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
    return {route.name: route for route in routes}
