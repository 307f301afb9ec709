"""Repository of agent_registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from restosync.db.paging import fetch_page
from restosync.db.pool import Connection
from restosync.db.queries import QUERIES
from restosync.models.agents import AgentView
from restosync.models.pagination import PageQuery


@dataclass(frozen=True)
class AgentCredentials:
    """What authentication needs to know of an agent."""

    vendor_id: str
    auth_token_hash: str
    deregistered_at: datetime | None


@dataclass(frozen=True)
class HealthThresholds:
    """Seconds without a heartbeat before an agent is degraded, then offline."""

    degraded_seconds: float
    offline_seconds: float


@dataclass(frozen=True)
class HealthTransition:
    """An agent whose persisted status changed."""

    vendor_id: str
    previous_status: str
    status: str
    last_heartbeat: datetime


async def credentials(conn: Connection, vendor_id: str) -> AgentCredentials | None:
    """The agent's token hash and deregistration, if the vendor is known."""
    cur = await conn.execute(QUERIES["agent_credentials"], {"vendor_id": vendor_id})
    row = await cur.fetchone()
    return AgentCredentials(**row) if row else None


async def insert(conn: Connection, **values: Any) -> dict[str, Any] | None:
    """Enrol a new vendor; None when it exists already."""
    cur = await conn.execute(QUERIES["insert_agent"], values)
    return await cur.fetchone()


async def reenrol(conn: Connection, **values: Any) -> dict[str, Any] | None:
    """Re-enrol a deregistered vendor; None when it is not deregistered."""
    cur = await conn.execute(QUERIES["reenrol_agent"], values)
    return await cur.fetchone()


async def update_registration(
    conn: Connection, *, current_hash: str, **values: Any
) -> dict[str, Any] | None:
    """Re-registration; None when the proved token is no longer the current one."""
    cur = await conn.execute(
        QUERIES["update_registration"], {**values, "current_hash": current_hash}
    )
    return await cur.fetchone()


async def record_heartbeat(
    conn: Connection, vendor_id: str, version: str | None
) -> dict[str, Any] | None:
    """Mark the agent online now; None when unknown or deregistered."""
    cur = await conn.execute(
        QUERIES["record_heartbeat"], {"vendor_id": vendor_id, "version": version}
    )
    return await cur.fetchone()


async def views(
    conn: Connection,
    thresholds: HealthThresholds,
    page: PageQuery,
    *,
    vendor_id: str | None = None,
    status: str | None = None,
) -> tuple[list[AgentView], int]:
    """Agents with live health, one page, and how many match in all."""
    params = {
        "degraded_seconds": thresholds.degraded_seconds,
        "offline_seconds": thresholds.offline_seconds,
        "vendor_id": vendor_id,
        "status": status,
    }
    rows, total = await fetch_page(conn, QUERIES["agent_views"], params, page)
    return [AgentView.model_validate(row) for row in rows], total


async def update_config(
    conn: Connection, vendor_id: str, *, agent_url: str | None, erp_type: str | None
) -> bool:
    """Change URL / ERP type of an active agent; False when there is none."""
    cur = await conn.execute(
        QUERIES["update_agent_config"],
        {"vendor_id": vendor_id, "agent_url": agent_url, "erp_type": erp_type},
    )
    return await cur.fetchone() is not None


async def deregister(conn: Connection, vendor_id: str) -> bool:
    """Deregister an active agent; False when there is none."""
    cur = await conn.execute(QUERIES["deregister_agent"], {"vendor_id": vendor_id})
    return await cur.fetchone() is not None


async def persist_health(conn: Connection, thresholds: HealthThresholds) -> list[HealthTransition]:
    """Persist live health where it changed; the transitions made."""
    cur = await conn.execute(
        QUERIES["persist_agent_health"],
        {
            "degraded_seconds": thresholds.degraded_seconds,
            "offline_seconds": thresholds.offline_seconds,
        },
    )
    return [HealthTransition(**row) for row in await cur.fetchall()]
