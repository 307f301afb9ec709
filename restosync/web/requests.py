"""Reading requests: JSON bodies and query strings into pydantic models, errors as problems."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from restosync.errors import (
    BadRequest,
    FieldError,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
)

Model = TypeVar("Model", bound=BaseModel)

# Bodies of endpoints that do not set their own limit (ingest does).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def field_errors(exc: ValidationError) -> tuple[FieldError, ...]:
    """pydantic's errors as (loc, msg) pairs, without echoing the input values."""
    return tuple(FieldError(tuple(err["loc"]), err["msg"]) for err in exc.errors())


async def read_json(request: web.Request, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Any:
    """The parsed JSON body: 415 unless JSON, 413 past `max_bytes`, 400 if malformed."""
    return parse_json(await read_json_bytes(request, max_bytes))


async def read_json_bytes(request: web.Request, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
    """The raw JSON body: 415 unless JSON; 413 from Content-Length, or while reading."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("The request body must be application/json.")
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """The parsed body; 400 if it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None


async def parse_body(
    request: web.Request, model: type[Model], max_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Model:
    """The JSON body validated as `model`: 422 with field errors when it does not fit."""
    raw = await read_json_bytes(request, max_bytes)
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    if b"\\u0000" in raw:  # the only way JSON carries a NUL, which PostgreSQL cannot store
        _refuse_nul(data, ())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(errors=field_errors(exc)) from None


def parse_query(request: web.Request, model: type[Model]) -> Model:
    """Query-string parameters validated as `model` (camelCase names); 422 on bad values."""
    for name, value in request.query.items():
        if "\x00" in name or "\x00" in value:
            raise InvalidInput(errors=(FieldError(("query", name), NUL_MESSAGE),))
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise InvalidInput(
            errors=tuple(FieldError(("query", *e.loc), e.msg) for e in field_errors(exc))
        ) from None


NUL_MESSAGE = "must not contain NUL characters (\\u0000)"


def _refuse_nul(value: Any, loc: tuple[str | int, ...]) -> None:
    """422 naming the first place of `value` (keys included) that holds a NUL character."""
    if isinstance(value, str) and "\x00" in value:
        raise InvalidInput(errors=(FieldError(loc, NUL_MESSAGE),))
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, loc)
            _refuse_nul(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, (*loc, index))


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
