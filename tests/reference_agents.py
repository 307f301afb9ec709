"""Reference agents (restosync.agent) served on loopback for the order tests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from restosync.agent.client import AgentClient
from restosync.agent.credentials import AgentCredentials
from restosync.agent.erp import SimulatedErp
from restosync.agent.server import AgentServer
from tests.conftest import AGENT_SECRET
from tests.orders import Conn

BCRYPT_LIKE = "$2b$10$" + "x" * 53


@dataclass
class RunningAgent:
    """A vendor's reference agent: its server, its ERP and (when enrolled) its client."""

    vendor_id: str
    server: AgentServer
    erp: SimulatedErp
    client: AgentClient | None
    token: str | None = None
    outbound_secret: str | None = None


@asynccontextmanager
async def enrolled_agent(
    session: aiohttp.ClientSession, base_url: str, vendor_id: str, folder: Path
) -> AsyncIterator[RunningAgent]:
    """An agent enrolled through restosync's API at `base_url`, serving on a free port."""
    path = folder / f"{vendor_id}.json"
    client = AgentClient(session, base_url, vendor_id, path, version="test")
    erp = SimulatedErp(prefix=f"ERP-{vendor_id}")
    server = AgentServer(erp, lambda: AgentCredentials.load(path).outbound_secret, client=client)
    url = await server.start()
    try:
        await client.enrol(AGENT_SECRET, url, "sage")
        yield RunningAgent(vendor_id, server, erp, client, AgentCredentials.load(path).token)
    finally:
        await server.stop()


@asynccontextmanager
async def registered_agent(db: Conn, vendor_id: str) -> AsyncIterator[RunningAgent]:
    """An agent written straight into agent_registry (no web app), serving on a free port."""
    secret = secrets.token_urlsafe(32)
    erp = SimulatedErp(prefix=f"ERP-{vendor_id}")
    server = AgentServer(erp, lambda: secret)
    url = await server.start()
    await db.execute(
        "INSERT INTO agent_registry (vendor_id, agent_url, erp_type, auth_token_hash, "
        "outbound_secret) VALUES (%s, %s, 'sage', %s, %s)",
        [vendor_id, url, BCRYPT_LIKE, secret],
    )
    try:
        yield RunningAgent(vendor_id, server, erp, None, outbound_secret=secret)
    finally:
        await server.stop()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 15.0, interval: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy; its last value (asserted)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            assert value, f"still {value!r} after {within} s"
            return value
        await asyncio.sleep(interval)
