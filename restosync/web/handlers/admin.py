"""Admin endpoints: agents and the audit log (X-API-Key; every mutation audited)."""

from __future__ import annotations

from aiohttp import web

from restosync.models.agents import AgentFilter, UpdateAgent
from restosync.models.audit import AuditFilter
from restosync.models.pagination import PageQuery
from restosync.services import agents, audit
from restosync.web.keys import ACTOR, AGENT_AUTH, POOL, SETTINGS
from restosync.web.requests import parse_body, parse_query
from restosync.web.responses import model_response


async def list_agents(request: web.Request) -> web.Response:
    """Agents with their live health (never a token hash or secret)."""
    page = await agents.list_agents(
        request.app[POOL],
        request.app[SETTINGS],
        parse_query(request, AgentFilter),
        parse_query(request, PageQuery),
    )
    return model_response(page)


async def get_agent(request: web.Request) -> web.Response:
    """One agent with its live health."""
    vendor_id = request.match_info["vendorId"]
    return model_response(
        await agents.get_agent(request.app[POOL], request.app[SETTINGS], vendor_id)
    )


async def update_agent(request: web.Request) -> web.Response:
    """Change an agent's URL or ERP type."""
    change = await parse_body(request, UpdateAgent)
    view = await agents.update_agent(
        request.app[POOL],
        request.app[SETTINGS],
        request[ACTOR],
        request.match_info["vendorId"],
        change,
    )
    return model_response(view)


async def deregister_agent(request: web.Request) -> web.Response:
    """Deregister an agent: its token stops working at once, in every process."""
    await agents.deregister_agent(
        request.app[POOL], request.app[AGENT_AUTH], request[ACTOR], request.match_info["vendorId"]
    )
    return web.Response(status=204)


async def list_audit(request: web.Request) -> web.Response:
    """The audit log of admin mutations, newest first."""
    page = await audit.list_entries(
        request.app[POOL], parse_query(request, AuditFilter), parse_query(request, PageQuery)
    )
    return model_response(page)
