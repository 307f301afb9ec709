"""JSON responses from pydantic models."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def model_response(
    model: BaseModel, *, status: int = 200, exclude_none: bool = False
) -> web.Response:
    """Serialize a wire model (camelCase) to a JSON response."""
    return web.Response(
        body=model.model_dump_json(by_alias=True, exclude_none=exclude_none),
        status=status,
        content_type=JSON,
    )
