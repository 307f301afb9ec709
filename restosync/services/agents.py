"""Agents: enrolment and re-registration, heartbeats, and their administration."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from restosync.db import agents as agents_db
from restosync.db.agents import HealthThresholds
from restosync.db.pool import Pool, connection, transaction
from restosync.errors import Conflict, FieldError, InvalidInput, NotFound, Unauthorized
from restosync.models.agents import (
    AgentFilter,
    AgentRegistered,
    AgentView,
    Heartbeat,
    HeartbeatAck,
    RegisterAgent,
    UpdateAgent,
)
from restosync.models.pagination import Page, PageMeta, PageQuery
from restosync.services import audit
from restosync.services.agent_auth import AgentAuthenticator, secrets_equal
from restosync.services.audit import Actor
from restosync.settings import Settings

logger = logging.getLogger(__name__)


def thresholds(settings: Settings) -> HealthThresholds:
    """The heartbeat thresholds of the settings."""
    return HealthThresholds(settings.HEARTBEAT_DEGRADED_SECONDS, settings.HEARTBEAT_OFFLINE_SECONDS)


def check_agent_url(url: str, allowed_hosts: tuple[str, ...], loc: str = "agentUrl") -> None:
    """http(s) with a host, and on the allow-list when there is one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(errors=(FieldError((loc,), "must be an http(s) URL with a host"),))
    if parts.username or parts.password:
        raise InvalidInput(errors=(FieldError((loc,), "must not carry credentials"),))
    if allowed_hosts and parts.hostname.lower() not in {h.lower() for h in allowed_hosts}:
        raise InvalidInput(errors=(FieldError((loc,), "host is not in AGENT_URL_ALLOWED_HOSTS"),))


async def register(
    pool: Pool,
    auth: AgentAuthenticator,
    settings: Settings,
    request: RegisterAgent,
    bearer: str | None,
) -> AgentRegistered:
    """Enrol a vendor (enrolment secret) or re-register it (its current token); SPEC §5.1."""
    check_agent_url(request.agent_url, settings.AGENT_URL_ALLOWED_HOSTS)
    async with connection(pool) as conn:
        current = await agents_db.credentials(conn, request.vendor_id)
    active = current is not None and current.deregistered_at is None
    if active:
        assert current is not None
        proved = await auth.check_hash(bearer or "", current.auth_token_hash)
    else:
        # Same bcrypt cost as the other path: timing does not tell whether a vendor exists.
        await auth.check_hash(bearer or "", None)
        proved = settings.AGENT_SECRET is not None and secrets_equal(bearer, settings.AGENT_SECRET)
    if not proved:
        raise Unauthorized("Missing or invalid agent credentials.")

    outbound_secret = secrets.token_urlsafe(32)
    values = {
        "vendor_id": request.vendor_id,
        "agent_url": request.agent_url,
        "erp_type": request.erp_type,
        "version": request.version,
        "auth_token_hash": await auth.hash_token(request.auth_token),
        "outbound_secret": outbound_secret,
    }
    async with transaction(pool) as conn:
        if active:
            assert current is not None
            row = await agents_db.update_registration(
                conn, current_hash=current.auth_token_hash, **values
            )
        elif current is None:
            row = await agents_db.insert(conn, **values)
        else:
            row = await agents_db.reenrol(conn, **values)
    if row is None:
        raise Conflict("The agent's registration changed meanwhile; register again.")
    auth.forget(request.vendor_id)
    logger.info(
        "agent registered",
        extra={"vendor_id": request.vendor_id, "enrolled": current is None, "rotation": active},
    )
    return AgentRegistered(**row, created=current is None, outbound_secret=outbound_secret)


async def heartbeat(pool: Pool, vendor_id: str, beat: Heartbeat) -> HeartbeatAck:
    """Record a heartbeat of an authenticated agent."""
    async with transaction(pool) as conn:
        row = await agents_db.record_heartbeat(conn, vendor_id, beat.version)
    if row is None:
        raise Unauthorized("Missing or invalid agent credentials.")
    return HeartbeatAck.model_validate(row)


async def list_agents(
    pool: Pool, settings: Settings, filters: AgentFilter, page: PageQuery
) -> Page[AgentView]:
    """Agents with live health."""
    async with connection(pool) as conn:
        views, total = await agents_db.views(
            conn, thresholds(settings), page, status=filters.status
        )
    return Page[AgentView](data=views, meta=PageMeta.of(page, total))


async def get_agent(pool: Pool, settings: Settings, vendor_id: str) -> AgentView:
    """One agent with live health."""
    async with connection(pool) as conn:
        views, _ = await agents_db.views(
            conn, thresholds(settings), PageQuery(page=1, limit=1), vendor_id=vendor_id
        )
    if not views:
        raise NotFound(f"No agent for vendor {vendor_id!r}.")
    return views[0]


async def update_agent(
    pool: Pool, settings: Settings, actor: Actor, vendor_id: str, change: UpdateAgent
) -> AgentView:
    """Admin change of URL / ERP type, audited in the same transaction."""
    if change.agent_url is not None:
        check_agent_url(change.agent_url, settings.AGENT_URL_ALLOWED_HOSTS)
    async with transaction(pool) as conn:
        if not await agents_db.update_config(
            conn, vendor_id, agent_url=change.agent_url, erp_type=change.erp_type
        ):
            raise NotFound(f"No active agent for vendor {vendor_id!r}.")
        await audit.record(
            conn,
            actor,
            "agent.update",
            target_type="agent",
            target_id=vendor_id,
            details=change.model_dump(exclude_none=True),
        )
    return await get_agent(pool, settings, vendor_id)


async def deregister_agent(
    pool: Pool, auth: AgentAuthenticator, actor: Actor, vendor_id: str
) -> None:
    """Deregister: the token is refused from the commit on, in every process."""
    async with transaction(pool) as conn:
        if not await agents_db.deregister(conn, vendor_id):
            raise NotFound(f"No active agent for vendor {vendor_id!r}.")
        await audit.record(
            conn,
            actor,
            "agent.deregister",
            target_type="agent",
            target_id=vendor_id,
            details={},
        )
    auth.forget(vendor_id)
