"""The OpenAPI 3.1 document, generated from the route list and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

import orjson
from openapi_pydantic import OpenAPI
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from restosync import __version__
from restosync.models.problem import Problem
from restosync.web.responses import JSON, PROBLEM_JSON
from restosync.web.routes import Route

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "api_key": [{"apiKey": []}],
    "agent_token": [{"agentToken": []}],
    "enrolment_or_agent_token": [{"enrolmentSecret": []}, {"agentToken": []}],
}
SchemaRefs = dict[tuple[type[BaseModel], JsonSchemaMode], str]
_ERROR_STATUSES: dict[str, tuple[int, ...]] = {
    "public": (),
    "api_key": (401,),
    "agent_token": (401, 403),
    "enrolment_or_agent_token": (401, 403),
}


def build_openapi(routes: tuple[Route, ...]) -> dict[str, Any]:
    """Describe every route; the result is validated against the OpenAPI 3.1 model."""
    refs, definitions = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = _PATH_PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, refs)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "restosync",
            "version": __version__,
            "description": "Synchronisation between vendors' ERPs and the RestoMarket "
            "marketplace. Errors are RFC 9457 problem documents.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "agentToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The agent's own token.",
                },
                "enrolmentSecret": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "AGENT_SECRET, to enrol a new vendor.",
                },
            },
        },
    }
    OpenAPI.model_validate(document)
    return document


def render_openapi(routes: tuple[Route, ...]) -> bytes:
    """The document as JSON bytes, built once at start-up."""
    return orjson.dumps(build_openapi(routes))


def _schemas(routes: tuple[Route, ...]) -> tuple[SchemaRefs, dict[str, Any]]:
    wanted: set[tuple[type[BaseModel], JsonSchemaMode]] = {(Problem, "serialization")}
    for route in routes:
        if route.body is not None:
            wanted.add((route.body, "validation"))
        wanted.update((m, "serialization") for m in route.responses.values() if m is not None)
    ordered = sorted(wanted, key=lambda item: (item[0].__name__, item[1]))
    keys, top = models_json_schema(ordered, by_alias=True, ref_template=_REF)
    refs: SchemaRefs = {(model, mode): value["$ref"] for (model, mode), value in keys.items()}  # type: ignore[misc]
    return refs, top.get("$defs", {})


def _content(ref: str, media: str = JSON) -> dict[str, Any]:
    return {media: {"schema": {"$ref": ref}}}


def _operation(route: Route, refs: SchemaRefs) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in route.responses.items():
        entry: dict[str, Any] = {"description": _describe(status)}
        if model is not None:
            entry["content"] = _content(refs[(model, "serialization")])
        responses[str(status)] = entry
    if route.raw_response:
        responses.setdefault("200", {"description": "OK", "content": {route.raw_response: {}}})
    problem = _content(refs[(Problem, "serialization")], PROBLEM_JSON)
    error_statuses = list(_ERROR_STATUSES[route.security])
    if route.body is not None:
        error_statuses += [400, 413, 415, 422]
    for status in error_statuses:
        responses.setdefault(str(status), {"description": _describe(status), "content": problem})
    responses["default"] = {"description": "Error (problem document)", "content": problem}
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.tag],
        "security": _SECURITY[route.security],
        "responses": responses,
    }
    if route.handler.__doc__:
        operation["description"] = route.handler.__doc__.strip()
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)
    ]
    parameters += [
        _query_parameter(name, schema)
        for model in route.query
        for name, schema in _query_fields(model)
    ]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": _content(refs[(route.body, "validation")]),
        }
    return operation


_DESCRIPTIONS: dict[int, str] = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Rate limited",
    503: "A dependency is unavailable",
}


def _query_fields(model: type[BaseModel]) -> list[tuple[str, dict[str, Any]]]:
    schema = model.model_json_schema(by_alias=True)
    return list(schema.get("properties", {}).items())


def _query_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _describe(status: int) -> str:
    return _DESCRIPTIONS.get(status, "Response")
