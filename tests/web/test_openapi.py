"""The OpenAPI document describes every route and is valid OpenAPI 3.1."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from openapi_pydantic import OpenAPI

from restosync.web.routes import ROUTES


async def test_document_lists_every_route(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    OpenAPI.model_validate(document)
    described = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert described == {(route.method, route.path) for route in ROUTES}


async def test_schemas_are_camel_case_and_problems_documented(
    client: TestClient[Any, Any],
) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "latencyMs" in schemas["DatabaseHealth"]["properties"]
    assert "correlationId" in schemas["Problem"]["properties"]
    health = document["paths"]["/health"]["get"]["responses"]
    assert health["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/Readiness")
    assert "application/problem+json" in health["default"]["content"]
