"""PostgreSQL stops: /health answers 503 quickly; it comes back: the same process recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import ClientTimeout
from aiohttp.test_utils import TestClient

from restosync.db.migrate import apply_migrations
from restosync.embedded import EmbeddedPostgres, ensure_database
from restosync.settings import Settings
from restosync.web.app import create_app
from tests.pg import embedded_server

pytestmark = pytest.mark.slow


@pytest.fixture
def own_server() -> Iterator[tuple[str, EmbeddedPostgres]]:
    """A server of this test's own, since the test stops it."""
    with embedded_server() as (server, embedded):
        url = ensure_database(server.url("postgres"), "outage")
        apply_migrations(url)
        yield url, embedded


async def _health(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = await client.get("/health", timeout=ClientTimeout(total=20))
    return response.status, await response.json(), time.monotonic() - started


async def test_health_is_503_while_the_database_is_down_and_recovers(
    aiohttp_client: Callable[..., Any],
    make_settings: Callable[..., Settings],
    own_server: tuple[str, EmbeddedPostgres],
) -> None:
    url, embedded = own_server
    client: TestClient[Any, Any] = await aiohttp_client(create_app(make_settings(DATABASE_URL=url)))
    status, body, _ = await _health(client)
    assert (status, body["database"]["status"]) == (200, "up")

    await asyncio.to_thread(embedded.stop)
    status, body, elapsed = await _health(client)
    assert (status, body["status"], body["database"]["status"]) == (503, "down", "down")
    assert elapsed < 15, "the probe must answer, not hang"
    assert (await client.get("/health/live")).status == 200

    await asyncio.to_thread(embedded.start)
    for _ in range(60):
        status, body, _ = await _health(client)
        if status == 200:
            break
        await asyncio.sleep(0.5)
    assert (status, body["database"]["status"]) == (200, "up")
