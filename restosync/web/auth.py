"""Who is calling: admin API key, agent tokens, and the rate limits that depend on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from restosync.errors import Forbidden, Unauthorized
from restosync.services.agent_auth import secrets_equal
from restosync.services.audit import Actor, key_fingerprint
from restosync.web.keys import (
    ACTOR,
    AGENT_AUTH,
    CORRELATION_ID,
    RATE_LIMITER,
    RATE_LIMITS,
    ROUTE_TABLE,
    SETTINGS,
)

VENDOR_HEADER = "X-Vendor-ID"


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def client_ip(request: web.Request) -> str:
    """The peer address (put restosync behind a proxy that sets it, not one that hides it)."""
    return request.remote or "unknown"


async def authenticate_agent(request: web.Request, body_vendor_id: str) -> str:
    """The authenticated agent's vendor, checked against the body's `vendorId` (403 if not its own).

    The agent names itself with `X-Vendor-ID` (the reference agent always does); without
    that header the body's `vendorId` is the identity the token must prove.
    """
    claimed = request.headers.get(VENDOR_HEADER, "").strip() or body_vendor_id
    vendor_id = await request.app[AGENT_AUTH].authenticate(claimed, bearer_token(request))
    if vendor_id != body_vendor_id:
        raise Forbidden("vendorId is not the authenticated agent's vendor.")
    return vendor_id


async def limit_agent(request: web.Request, vendor_id: str) -> None:
    """Count this request against the route's per-agent rate limit."""
    route = request.app[ROUTE_TABLE].get(request.match_info.route.name or "")
    if route is not None and route.rate_limit and route.rate_limit_by == "agent":
        limit = request.app[RATE_LIMITS][route.rate_limit]
        await request.app[RATE_LIMITER].hit(limit, f"agent:{vendor_id}")


@web.middleware
async def access_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Per-IP rate limits, then the API key where the route asks for it."""
    route = request.app[ROUTE_TABLE].get(request.match_info.route.name or "")
    if route is None:
        return await handler(request)
    if route.rate_limit:
        # Agent routes are limited per agent after authentication; before it, the default
        # per-IP limit bounds what guessing tokens (a bcrypt each) can cost us.
        name = route.rate_limit if route.rate_limit_by == "ip" else "default"
        limit = request.app[RATE_LIMITS][name]
        await request.app[RATE_LIMITER].hit(limit, f"ip:{client_ip(request)}")
    if route.security == "api_key":
        request[ACTOR] = require_api_key(request)
    return await handler(request)


def require_api_key(request: web.Request) -> Actor:
    """The admin/marketplace caller; 401 for a missing or wrong key (one code path for both)."""
    secret = request.app[SETTINGS].API_SECRET
    given = request.headers.get("X-API-Key")
    if secret is None or not secrets_equal(given, secret):
        raise Unauthorized("Missing or invalid X-API-Key.")
    return Actor(fingerprint=key_fingerprint(secret), correlation_id=request.get(CORRELATION_ID))
