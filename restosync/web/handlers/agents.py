"""Agent endpoints: enrolment / re-registration and heartbeats."""

from __future__ import annotations

from aiohttp import web

from restosync.models.agents import Heartbeat, RegisterAgent
from restosync.services import agents
from restosync.web.auth import authenticate_agent, bearer_token, limit_agent
from restosync.web.keys import AGENT_AUTH, POOL, SETTINGS
from restosync.web.requests import parse_body
from restosync.web.responses import model_response


async def register(request: web.Request) -> web.Response:
    """Enrol a new vendor (Bearer AGENT_SECRET) or re-register one (Bearer its current token).

    201 for a new vendor, 200 for a re-registration. The answer carries the agent's new
    `outboundSecret`; a re-registration with a new `authToken` rotates the token.
    """
    body = await parse_body(request, RegisterAgent)
    app = request.app
    registered = await agents.register(
        app[POOL], app[AGENT_AUTH], app[SETTINGS], body, bearer_token(request)
    )
    return model_response(registered, status=201 if registered.created else 200)


async def heartbeat(request: web.Request) -> web.Response:
    """The agent is alive: it counts as online from now."""
    body = await parse_body(request, Heartbeat)
    vendor_id = await authenticate_agent(request, body.vendor_id)
    await limit_agent(request, vendor_id)
    return model_response(await agents.heartbeat(request.app[POOL], vendor_id, body))
