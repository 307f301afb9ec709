"""Secrets sent in a request never reach the logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from restosync.logconfig import configure_logging
from restosync.settings import Settings
from restosync.web.app import create_app
from restosync.web.middleware import AccessLogger
from tests.conftest import AGENT_SECRET, API_SECRET

AGENT_TOKEN = "agent-token-7f3a9c1e5b"


@pytest.fixture
def captured_logs(settings: Settings) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("DEBUG", secrets=settings.secret_values())
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


async def _log_everything(request: web.Request) -> web.Response:
    logger = logging.getLogger("restosync.test")
    logger.info("headers %s", dict(request.headers))
    logger.info("query %s", request.query_string, extra={"query": dict(request.query)})
    raise RuntimeError(f"failed while handling {request.headers.get('Authorization')}")


async def test_no_secret_in_any_log_line(
    aiohttp_client: Callable[..., Any], settings: Settings, captured_logs: io.StringIO
) -> None:
    app = create_app(settings)
    app.router.add_post("/test/log", _log_everything)
    client: TestClient[Any, Any] = await aiohttp_client(
        app, server_kwargs={"access_log_class": AccessLogger}
    )
    response = await client.post(
        f"/test/log?token={AGENT_TOKEN}&apiKey={API_SECRET}",
        headers={"Authorization": f"Bearer {AGENT_TOKEN}", "X-API-Key": API_SECRET},
        json={"authToken": AGENT_TOKEN},
    )
    assert response.status == 500
    logs = captured_logs.getvalue()
    assert "/test/log" in logs  # the request was logged ...
    assert AGENT_TOKEN not in logs  # ... without its secrets
    assert API_SECRET not in logs
    assert response.headers["X-Correlation-ID"] in logs

    # A real endpoint at DEBUG: an enrolment logs the vendor, never its token.
    enrolled = await client.post(
        "/api/agents/register",
        json={
            "vendorId": "v-log",
            "agentUrl": "http://h.example/",
            "erpType": "ebp",
            "authToken": AGENT_TOKEN,
        },
        headers={"Authorization": f"Bearer {AGENT_SECRET}"},
    )
    assert enrolled.status == 201
    logs = captured_logs.getvalue()
    assert "v-log" in logs
    assert AGENT_TOKEN not in logs
    assert AGENT_SECRET not in logs
