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
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

# What callers hand in; services name it from here, as they never import aiohttp themselves.
HttpSession = aiohttp.ClientSession

CREATE_ORDER_PATH = "/sync/create-order"
SIGNATURE_HEADER = "X-Restosync-Signature"
TIMESTAMP_HEADER = "X-Restosync-Timestamp"
SIGNATURE_VERSION = "v1"
# Enough of an answer for an ERP reference or an error message; the rest is not read.
MAX_ANSWER_BYTES = 64 * 1024
_EXCERPT_CHARS = 500


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
