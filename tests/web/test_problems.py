"""Every error is an RFC 9457 problem, with security headers and a correlation id."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from restosync import errors
from restosync.settings import Settings
from restosync.web.app import create_app
from restosync.web.middleware import SECURITY_HEADERS

RAISED: dict[str, errors.RestosyncError] = {
    "400": errors.BadRequest("Body is not JSON."),
    "401": errors.Unauthorized(),
    "403": errors.Forbidden(),
    "404": errors.NotFound("No such order."),
    "409": errors.Conflict(),
    "415": errors.UnsupportedMediaType(),
    "422": errors.InvalidInput(errors=(errors.FieldError(("items", 0, "sku"), "Field required"),)),
    "429": errors.TooManyRequests(headers={"Retry-After": "12"}),
    "503": errors.DatabaseUnavailable(),
}


async def _raise(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind == "crash":
        raise RuntimeError("SELECT secret_column FROM internal_table")  # never shown
    raise RAISED[kind]


async def _echo_body(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


@pytest.fixture
async def problem_client(
    aiohttp_client: Callable[..., Any], make_settings: Callable[..., Settings]
) -> TestClient[Any, Any]:
    app = create_app(make_settings(CORS_ORIGINS="https://shop.example"))
    app.router.add_get("/test/raise/{kind}", _raise)
    app.router.add_post("/test/echo", _echo_body)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    return client


def assert_problem(body: dict[str, Any], status: int) -> None:
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= body.keys()


@pytest.mark.parametrize("kind", sorted(RAISED))
async def test_raised_errors_are_rendered_as_problems(
    problem_client: TestClient[Any, Any], kind: str
) -> None:
    response = await problem_client.get(f"/test/raise/{kind}")
    assert response.status == int(kind)
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert_problem(body, int(kind))
    assert body["code"] == RAISED[kind].code
    assert body["correlationId"] == response.headers["X-Correlation-ID"]


async def test_validation_problems_list_field_errors(problem_client: TestClient[Any, Any]) -> None:
    body = await (await problem_client.get("/test/raise/422")).json()
    assert body["errors"] == [{"loc": ["items", 0, "sku"], "msg": "Field required"}]


async def test_rate_limit_problem_carries_retry_after(problem_client: TestClient[Any, Any]) -> None:
    response = await problem_client.get("/test/raise/429")
    assert response.headers["Retry-After"] == "12"


async def test_unexpected_errors_leak_nothing(problem_client: TestClient[Any, Any]) -> None:
    response = await problem_client.get("/test/raise/crash")
    assert response.status == 500
    text = await response.text()
    assert "secret_column" not in text
    assert "Traceback" not in text
    assert_problem(await response.json(), 500)


async def test_unknown_route_is_a_404_problem(problem_client: TestClient[Any, Any]) -> None:
    response = await problem_client.get("/nowhere")
    assert response.status == 404
    assert response.content_type == "application/problem+json"


async def test_wrong_method_is_a_405_problem_with_allow(
    problem_client: TestClient[Any, Any],
) -> None:
    response = await problem_client.delete("/health")
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert_problem(await response.json(), 405)


async def test_oversized_body_is_a_413_problem(problem_client: TestClient[Any, Any]) -> None:
    body = io.BytesIO(b"x" * (10 * 1024 * 1024 + 1))
    response = await problem_client.post("/test/echo", data=body)
    assert response.status == 413
    assert_problem(await response.json(), 413)


async def test_every_response_has_security_headers(problem_client: TestClient[Any, Any]) -> None:
    for path in ("/health/live", "/nowhere", "/test/raise/crash"):
        response = await problem_client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (path, name)


async def test_correlation_id_is_echoed_or_generated(problem_client: TestClient[Any, Any]) -> None:
    echoed = await problem_client.get("/health/live", headers={"X-Correlation-ID": "abc-1"})
    assert echoed.headers["X-Correlation-ID"] == "abc-1"
    from_request_id = await problem_client.get("/health/live", headers={"X-Request-ID": "r-9"})
    assert from_request_id.headers["X-Correlation-ID"] == "r-9"
    generated = await problem_client.get("/health/live")
    assert len(generated.headers["X-Correlation-ID"]) == 36


async def test_cors_allows_configured_origins_only(problem_client: TestClient[Any, Any]) -> None:
    allowed = await problem_client.get("/health/live", headers={"Origin": "https://shop.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    other = await problem_client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = await problem_client.options(
        "/health",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status == 204
    assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
