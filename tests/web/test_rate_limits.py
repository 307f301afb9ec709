"""Rate limits hold across web processes sharing one database; 429 carries Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from restosync.settings import Settings
from restosync.web.app import create_app
from tests.agents import ADMIN, agent_headers, enrol

REGISTER = {"vendorId": "v", "agentUrl": "http://h/", "erpType": "ebp", "authToken": "x" * 16}


async def _two_processes(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> tuple[TestClient[Any, Any], TestClient[Any, Any]]:
    first: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    second: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return first, second


async def test_register_is_limited_per_ip_across_processes(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    first, second = await _two_processes(
        aiohttp_client, make_settings(RATE_LIMIT_REGISTER_PER_MINUTE=3)
    )
    statuses = []
    for client in (first, second, first, second):
        response = await client.post("/api/agents/register", json=REGISTER)
        statuses.append(response.status)
    assert statuses == [401, 401, 401, 429]
    # Sliding window: the full minute, then until the carried-over count decays.
    assert 1 <= int(response.headers["Retry-After"]) <= 120
    body = await response.json()
    assert (body["status"], body["code"]) == (429, "rate_limited")


async def test_heartbeat_is_limited_per_agent(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    first, second = await _two_processes(
        aiohttp_client, make_settings(RATE_LIMIT_HEARTBEAT_PER_MINUTE=2)
    )
    await enrol(first, "vendor-a", "token-of-vendor-a-0123456789")
    await enrol(first, "vendor-b", "token-of-vendor-b-0123456789")

    async def beat(client: TestClient[Any, Any], vendor: str) -> int:
        response = await client.post(
            "/api/agents/heartbeat",
            json={"vendorId": vendor},
            headers=agent_headers(vendor, f"token-of-{vendor}-0123456789"),
        )
        return response.status

    assert [await beat(first, "vendor-a"), await beat(second, "vendor-a")] == [200, 200]
    assert await beat(first, "vendor-a") == 429
    assert await beat(second, "vendor-b") == 200  # another agent has its own budget


async def test_admin_endpoints_fall_under_the_default_limit(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    first, second = await _two_processes(
        aiohttp_client, make_settings(RATE_LIMIT_DEFAULT_PER_MINUTE=2)
    )
    statuses = [
        (await c.get("/api/admin/agents", headers=ADMIN)).status for c in (first, second, first)
    ]
    assert statuses == [200, 200, 429]
    # Probes are never limited.
    assert (await first.get("/health/live")).status == 200


async def test_limits_can_be_switched_off(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(make_settings(RATE_LIMIT_REGISTER_PER_MINUTE=1, RATE_LIMITS_ENABLED=False))
    )
    statuses = {(await client.post("/api/agents/register", json=REGISTER)).status for _ in range(4)}
    assert statuses == {401}


async def test_token_guessing_is_bounded_per_ip(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(make_settings(RATE_LIMIT_DEFAULT_PER_MINUTE=3))
    )
    statuses = [
        (
            await client.post(
                "/api/agents/heartbeat",
                json={"vendorId": "victim"},
                headers=agent_headers("victim", f"guess-{n}-0123456789"),
            )
        ).status
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
