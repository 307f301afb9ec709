"""Fixtures: a real PostgreSQL, a migrated template cloned per test, the web app, a worker."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import procrastinate
import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from psycopg.rows import DictRow, dict_row

from restosync.db.pool import Pool, create_pool, open_pool
from restosync.settings import Settings, load_settings
from restosync.web.app import create_app
from restosync.worker import configure_worker_app
from tests.pg import PgServer, cloned_database, migrated_template, session_server
from tests.processes import running_worker

API_SECRET = "test-api-secret-" + secrets.token_hex(16)
AGENT_SECRET = "test-agent-secret-" + secrets.token_hex(8)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with session_server() as server:
        yield server


@pytest.fixture(scope="session")
def template_database(pg_server: PgServer) -> Iterator[str]:
    with migrated_template(pg_server) as name:
        yield name


@pytest.fixture
def database_url(pg_server: PgServer, template_database: str) -> Iterator[str]:
    with cloned_database(pg_server, template_database) as url:
        yield url


@pytest.fixture
def aiohttp_client(database_url: str, aiohttp_client: Any) -> Any:
    """pytest-aiohttp's client factory, torn down before the test database is dropped."""
    return aiohttp_client


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    """Settings for tests: the per-test database, known secrets, overrides as keywords."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "API_SECRET": API_SECRET,
            "AGENT_SECRET": AGENT_SECRET,
            "DATABASE_POOL_MAX": 4,
            "WORKER_POLL_SECONDS": 0.2,
            # Hardly a missed tick run at start: an hourly task must not join a test
            # that happens to start in the first minutes of an hour.
            "PERIODIC_CATCH_UP_SECONDS": 3,
            # The minimum SPEC §5.1 allows: keeps the suite fast; production default is 12.
            "AGENT_TOKEN_BCRYPT_ROUNDS": 10,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[DictRow]]:
    """An autocommit connection to the test database, for arranging and asserting."""
    conn = await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row
    )
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], settings: Settings) -> TestClient[Any, Any]:
    """The full web application on a real loopback port (no worker in-process)."""
    result: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return result


@pytest.fixture
async def queue_app(settings: Settings) -> AsyncIterator[procrastinate.App]:
    """The shared procrastinate App (tasks registered) opened on the test database.

    Not for tests that also use `client`: the web app opens the same App itself.
    """
    app = configure_worker_app(settings)
    await app.open_async()
    try:
        yield app
    finally:
        await app.close_async()


@pytest.fixture
def worker(database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real `procrastinate worker` process on every queue of the test database."""
    with running_worker(database_url) as process:
        yield process


# The secret part of a Slack webhook URL is its path.
WEBHOOK_PATH = f"/services/T0TEST/B0TEST/{secrets.token_hex(12)}"


@dataclass
class Received:
    path: str
    content_type: str
    body: Any


@dataclass
class FakeSlack:
    """A webhook endpoint that records requests and answers `status` after `delay` seconds."""

    url: str = ""
    status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, request.content_type, await request.json()))
        await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text="ok" if self.status < 300 else "boom")


@pytest.fixture
async def slack(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeSlack:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, fake.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    fake.url = str(server.make_url(WEBHOOK_PATH))
    return fake


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def make_pool(database_url: str) -> AsyncIterator[Callable[[], Awaitable[Pool]]]:
    """Pools on the test database, one per simulated process; closed afterwards."""
    pools: list[Pool] = []

    async def make() -> Pool:
        pool = create_pool(database_url, max_size=4, name=f"alerts-{len(pools)}")
        await open_pool(pool)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


@pytest.fixture
async def pool(make_pool: Callable[[], Awaitable[Pool]]) -> Pool:
    return await make_pool()
