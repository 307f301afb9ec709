"""The one place where every error becomes an RFC 9457 problem document."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from restosync import errors
from restosync.models.problem import Problem, ProblemFieldError
from restosync.web.keys import CORRELATION_ID
from restosync.web.responses import PROBLEM_JSON

logger = logging.getLogger(__name__)

# aiohttp raises these itself (routing, body size); map them onto our tree.
_HTTP_EXCEPTIONS: dict[int, type[errors.RestosyncError]] = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
    422: errors.InvalidInput,
    429: errors.TooManyRequests,
    503: errors.ServiceUnavailable,
}


def problem_response(request: web.Request, error: errors.RestosyncError) -> web.Response:
    """Render one error of the tree; never includes internals."""
    problem = Problem(
        type=f"https://restosync.dev/problems/{error.code.replace('_', '-')}",
        title=error.title,
        status=error.status,
        detail=error.detail,
        code=error.code,
        correlation_id=request.get(CORRELATION_ID),
        errors=[ProblemFieldError(loc=list(e.loc), msg=e.msg) for e in error.errors] or None,
    )
    return web.Response(
        body=problem.model_dump_json(by_alias=True, exclude_none=True),
        status=error.status,
        content_type=PROBLEM_JSON,
        headers=error.headers,
    )


def _from_http_exception(exc: web.HTTPException) -> errors.RestosyncError:
    kind = _HTTP_EXCEPTIONS.get(exc.status, errors.RestosyncError)
    if exc.status == 413:
        return errors.PayloadTooLarge("The request body is larger than this endpoint accepts.")
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return errors.MethodNotAllowed(headers={"Allow": allowed} if allowed else None)
    return kind()


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every exception into a problem response; log unexpected ones."""
    try:
        return await handler(request)
    except errors.RestosyncError as exc:
        if exc.status >= 500:
            logger.error("request failed: %s", exc.code)
        return problem_response(request, exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(request, _from_http_exception(exc))
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return problem_response(request, errors.RestosyncError())
