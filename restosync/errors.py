"""The one error tree of restosync; the web layer renders it as RFC 9457 problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation failure: where (path of keys and indexes) and what."""

    loc: tuple[str | int, ...]
    msg: str


class RestosyncError(Exception):
    """Something went wrong in restosync."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: tuple[FieldError, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or (self.__doc__ or self.title).strip()
        self.errors = errors
        self.headers = headers or {}
        super().__init__(self.detail)


class ConfigurationError(RestosyncError):
    """The configuration is invalid."""

    code = "configuration_error"
    title = "Configuration error"


class BadRequest(RestosyncError):
    """The request is malformed."""

    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthorized(RestosyncError):
    """Missing or invalid credentials."""

    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(RestosyncError):
    """These credentials do not allow this action."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(RestosyncError):
    """The resource does not exist."""

    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(RestosyncError):
    """This method is not allowed on this resource."""

    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(RestosyncError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(RestosyncError):
    """The request body is larger than this endpoint accepts."""

    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(RestosyncError):
    """The request body must be application/json."""

    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class InvalidInput(RestosyncError):
    """The request body failed validation."""

    status = 422
    code = "validation_failed"
    title = "Validation failed"


class TooManyRequests(RestosyncError):
    """Rate limit exceeded; retry after the delay given in Retry-After."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(RestosyncError):
    """A dependency of restosync is unavailable; retry later."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database is unavailable; retry later."""

    code = "database_unavailable"
