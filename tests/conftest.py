"""Fixtures: a real PostgreSQL, a migrated template cloned per test, the web app, a worker."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import procrastinate
import psycopg
import pytest
from aiohttp.test_utils import TestClient
from psycopg.rows import DictRow, dict_row

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
def make_settings(database_url: str) -> Callable[..., Settings]:
    """Settings for tests: the per-test database, known secrets, overrides as keywords."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "API_SECRET": API_SECRET,
            "AGENT_SECRET": AGENT_SECRET,
            "DATABASE_POOL_MAX": 4,
            "WORKER_POLL_SECONDS": 0.2,
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
