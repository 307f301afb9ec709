"""Calls to vendor agents (SPEC §5.3): JSON bodies, Bearer outbound secret, HMAC signature.

Every call carries `Authorization: Bearer <outboundSecret>`, `X-Correlation-ID`,
`Idempotency-Key` (where it applies), `X-Restosync-Timestamp` (Unix seconds) and
`X-Restosync-Signature: v1=<hex HMAC-SHA256(outboundSecret, timestamp + "." + body)>`,
computed over exactly the bytes sent. The secret never appears in what this module
returns or raises: aiohttp's exceptions are reduced to their kind.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from pydantic import TypeAdapter, ValidationError

from restosync.errors import RestosyncError
from restosync.models.reconciliation import AgentChecksum, ManifestEntry

# What callers hand in; services name it from here, as they never import aiohttp themselves.
HttpSession = aiohttp.ClientSession

CREATE_ORDER_PATH = "/sync/create-order"
SIGNATURE_HEADER = "X-Restosync-Signature"
TIMESTAMP_HEADER = "X-Restosync-Timestamp"
SIGNATURE_VERSION = "v1"
# Enough of an answer for an ERP reference or an error message; the rest is not read.
MAX_ANSWER_BYTES = 64 * 1024
_EXCERPT_CHARS = 500
Parsed = TypeVar("Parsed")


@dataclass(frozen=True)
class AgentResponse:
    """What an agent answered: an HTTP status and JSON object, or why there was no answer."""

    status: int | None
    body: dict[str, Any] | None
    error: str | None = None
    excerpt: str | None = None

    @property
    def answered(self) -> bool:
        """True when an HTTP answer came back (any status)."""
        return self.status is not None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 of `timestamp + "." + body` under the agent's outbound secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def signed_headers(
    secret: str,
    body: bytes,
    *,
    correlation_id: str,
    idempotency_key: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The headers of one call to an agent, signing `body` as it will be sent."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/json",
        "X-Correlation-ID": correlation_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(secret, stamp, body),
    }
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


async def post_to_agent(
    session: HttpSession,
    agent_url: str,
    path: str,
    secret: str,
    payload: dict[str, Any],
    *,
    correlation_id: str,
    idempotency_key: str | None,
    timeout_seconds: float,
) -> AgentResponse:
    """POST a signed JSON body to `{agent_url}{path}`; never raises for network trouble."""
    body = orjson.dumps(payload)
    headers = signed_headers(
        secret, body, correlation_id=correlation_id, idempotency_key=idempotency_key
    )
    try:
        async with session.post(
            agent_url.rstrip("/") + path,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as response:
            raw = await _read_at_most(response, MAX_ANSWER_BYTES)
            return AgentResponse(response.status, _json_object(raw), excerpt=_excerpt(raw))
    except TimeoutError:
        return AgentResponse(None, None, f"no answer within {timeout_seconds:g} s")
    except aiohttp.ClientError as exc:
        # A ClientError's message may quote the request; keep only its kind.
        return AgentResponse(None, None, f"connection failed ({type(exc).__name__})")


async def create_order(
    session: HttpSession,
    agent_url: str,
    secret: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str,
    correlation_id: str,
    timeout_seconds: float,
) -> AgentResponse:
    """`POST {agentUrl}/sync/create-order` with `{syncJobId, orderId, orderData}`."""
    return await post_to_agent(
        session,
        agent_url,
        CREATE_ORDER_PATH,
        secret,
        payload,
        correlation_id=correlation_id,
        idempotency_key=idempotency_key,
        timeout_seconds=timeout_seconds,
    )


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    # content.read(n) returns what has arrived, possibly less than a whole small body.
    body = bytearray()
    async for chunk in response.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _excerpt(raw: bytes) -> str | None:
    text = raw.decode("utf-8", errors="replace").strip()
    return text[:_EXCERPT_CHARS] or None


# --- reconciliation calls (issue 6) -------------------------------------------------
# What reconciliation reads from an agent (SPEC §5.3, §6.1). Unlike create-order these
# answers can be large (a manifest of a whole range, a page of item payloads), so they
# are read up to MAX_CATALOG_ANSWER_BYTES; anything else than a 200 with the expected
# JSON shape raises AgentCallFailed, which says what went wrong without the secret.

CHECKSUM_PATH = "/sync/checksum"
MANIFEST_PATH = "/sync/manifest"
FETCH_ITEMS_PATH = "/sync/items"
FETCH_STOCK_PATH = "/sync/stock"
MAX_CATALOG_ANSWER_BYTES = 64 * 1024 * 1024
_MANIFEST = TypeAdapter(list[ManifestEntry])
_ROWS = TypeAdapter(list[dict[str, Any]])


class AgentCallFailed(RestosyncError):
    """A call to the agent failed: no answer, an error status, or an answer of the wrong shape."""

    status = 502
    code = "agent_call_failed"
    title = "Agent call failed"

    def __init__(self, detail: str, *, path: str, http_status: int | None = None) -> None:
        super().__init__(detail)
        self.path = path
        self.http_status = http_status


@dataclass(frozen=True)
class AgentTarget:
    """Where and how to call one vendor's agent."""

    agent_url: str
    secret: str
    correlation_id: str
    timeout_seconds: float


async def agent_checksum(
    session: HttpSession,
    target: AgentTarget,
    entity: str,
    range_start: str | None = None,
    range_end: str | None = None,
) -> AgentChecksum:
    """`POST /sync/checksum {entity, rangeStart?, rangeEnd?}` → `{checksum, count}`."""
    raw = await _call(session, target, CHECKSUM_PATH, _range(entity, range_start, range_end))
    return _parse(CHECKSUM_PATH, lambda: AgentChecksum.model_validate_json(raw))


async def agent_manifest(
    session: HttpSession,
    target: AgentTarget,
    entity: str,
    range_start: str | None = None,
    range_end: str | None = None,
) -> list[ManifestEntry]:
    """`POST /sync/manifest {entity, rangeStart?, rangeEnd?}` → `[{key, contentHash}]`."""
    raw = await _call(session, target, MANIFEST_PATH, _range(entity, range_start, range_end))
    return _parse(MANIFEST_PATH, lambda: _MANIFEST.validate_json(raw))


async def agent_items(
    session: HttpSession, target: AgentTarget, skus: list[str]
) -> list[dict[str, Any]]:
    """`POST /sync/items {skus}` → the item payloads the ERP has (SPEC §4.2)."""
    raw = await _call(session, target, FETCH_ITEMS_PATH, {"skus": skus})
    return _parse(FETCH_ITEMS_PATH, lambda: _ROWS.validate_json(raw))


async def agent_stock(
    session: HttpSession, target: AgentTarget, keys: list[str]
) -> list[dict[str, Any]]:
    """`POST /sync/stock {keys}` → the stock payloads the ERP has (SPEC §4.2)."""
    raw = await _call(session, target, FETCH_STOCK_PATH, {"keys": keys})
    return _parse(FETCH_STOCK_PATH, lambda: _ROWS.validate_json(raw))


def _range(entity: str, start: str | None, end: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"entity": entity}
    if start is not None:
        body["rangeStart"] = start
    if end is not None:
        body["rangeEnd"] = end
    return body


async def _call(
    session: HttpSession, target: AgentTarget, path: str, payload: dict[str, Any]
) -> bytes:
    """The body of a 200 answer, read whole (AgentCallFailed otherwise)."""
    body = orjson.dumps(payload)
    headers = signed_headers(target.secret, body, correlation_id=target.correlation_id)
    try:
        async with session.post(
            target.agent_url.rstrip("/") + path,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=target.timeout_seconds),
            allow_redirects=False,
        ) as response:
            raw = await _read_at_most(response, MAX_CATALOG_ANSWER_BYTES + 1)
            status = response.status
    except TimeoutError:
        raise AgentCallFailed(
            f"{path}: no answer within {target.timeout_seconds:g} s", path=path
        ) from None
    except aiohttp.ClientError as exc:
        raise AgentCallFailed(
            f"{path}: connection failed ({type(exc).__name__})", path=path
        ) from None
    if status != 200:
        excerpt = _excerpt(raw[:_EXCERPT_CHARS])
        raise AgentCallFailed(
            f"{path}: agent answered HTTP {status}" + (f": {excerpt}" if excerpt else ""),
            path=path,
            http_status=status,
        )
    if len(raw) > MAX_CATALOG_ANSWER_BYTES:
        raise AgentCallFailed(
            f"{path}: answer larger than {MAX_CATALOG_ANSWER_BYTES} bytes", path=path
        )
    return raw


def _parse(path: str, parse: Callable[[], Parsed]) -> Parsed:
    try:
        return parse()
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise AgentCallFailed(
            f"{path}: unexpected answer ({exc.error_count()} errors, first at {where}: "
            f"{first['msg']})",
            path=path,
            http_status=200,
        ) from None


# --- end of reconciliation calls ----------------------------------------------------
