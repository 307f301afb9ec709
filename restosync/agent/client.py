"""The agent's side of the HTTP API: enrolment, rotation, heartbeats, callbacks (SPEC §5)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from restosync.agent.credentials import AgentCredentials, CredentialsError, new_token
from restosync.models.agents import (
    AgentRegistered,
    ErpType,
    Heartbeat,
    HeartbeatAck,
    RegisterAgent,
)
from restosync.models.orders import AgentCallback, CallbackAck
from restosync.models.problem import Problem

logger = logging.getLogger(__name__)

VENDOR_HEADER = "X-Vendor-ID"
CORRELATION_HEADER = "X-Correlation-ID"
REGISTER_PATH = "/api/agents/register"
HEARTBEAT_PATH = "/api/agents/heartbeat"
CALLBACK_PATH = "/api/agents/callback"

Answer = TypeVar("Answer", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]
# Errors after which a heartbeat is simply tried again later.
TransientError = (aiohttp.ClientError, TimeoutError)
_jitter = random.SystemRandom()


class AgentApiError(Exception):
    """restosync refused a request; built from its problem document (RFC 9457)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        retry_after: float | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.correlation_id = correlation_id
        super().__init__(f"{status} {code}: {detail}")

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (rate limit, timeout, server trouble)."""
        return self.status in (408, 429) or self.status >= 500


class AgentClient:
    """One vendor's agent talking to restosync through a caller-owned `aiohttp.ClientSession`.

    The credentials file is read on every call, so a token rotated by another process
    (`restosync agent rotate` next to `restosync agent run`) is picked up at once.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        vendor_id: str,
        credentials_path: Path,
        *,
        version: str | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self.vendor_id = vendor_id
        self.credentials_path = credentials_path
        self.version = version

    def credentials(self) -> AgentCredentials:
        """The stored credentials, which must be this vendor's."""
        stored = AgentCredentials.load(self.credentials_path)
        if stored.vendor_id != self.vendor_id:
            raise CredentialsError(
                f"{self.credentials_path} holds the credentials of vendor {stored.vendor_id!r}, "
                f"not {self.vendor_id!r}."
            )
        return stored

    async def enrol(
        self,
        enrolment_secret: str,
        agent_url: str,
        erp_type: ErpType,
        version: str | None = None,
    ) -> AgentRegistered:
        """First registration (Bearer = enrolment secret) under a new token; saves credentials."""
        if self.credentials_path.exists():
            raise CredentialsError(
                f"{self.credentials_path} exists already: this agent is enrolled. Rotate its "
                "token with `restosync agent rotate`; enrol only with a new credentials file."
            )
        token = new_token()
        registered = await self._register(
            enrolment_secret, agent_url, erp_type, token, version or self.version
        )
        self._save(token, registered)
        logger.info("agent enrolled", extra={"vendor_id": self.vendor_id})
        return registered

    async def rotate_token(self) -> AgentRegistered:
        """Re-register under a new token (Bearer = current token); saved once accepted.

        The new token is first written to the file as `pendingToken`: if the answer is
        lost after the server switched tokens, the next rotation finds the old token
        refused, proves the pending one and finishes the rotation instead of locking out.
        """
        stored = self.credentials()
        resuming = stored.pending_token is not None
        if stored.pending_token is None:
            stored = stored.model_copy(update={"pending_token": new_token()})
            stored.save(self.credentials_path)
        assert stored.pending_token is not None
        correlation_id = _new_correlation_id()
        try:
            registered = await self._reregister(
                stored, stored.token, stored.pending_token, correlation_id=correlation_id
            )
        except AgentApiError as refused:
            if refused.status != 401 or not resuming:
                raise
            registered = await self._finish_interrupted_rotation(stored, refused, correlation_id)
        self._save(stored.pending_token, registered)
        logger.info("agent token rotated", extra={"vendor_id": self.vendor_id})
        return registered

    async def update_url(self, agent_url: str) -> AgentRegistered:
        """Re-register at a new URL with the current token (which stays the same)."""
        stored = self.credentials()
        registered = await self._reregister(stored, stored.token, stored.token, agent_url=agent_url)
        self._save(stored.token, registered, pending_token=stored.pending_token)
        return registered

    async def heartbeat(self) -> HeartbeatAck:
        """One heartbeat: the agent counts as online from now."""
        stored = self.credentials()
        beat = Heartbeat(vendor_id=self.vendor_id, version=self.version)
        return await self._post(HEARTBEAT_PATH, beat, stored.token, HeartbeatAck)

    async def callback(
        self,
        job_id: str,
        status: Literal["completed", "failed"],
        *,
        erp_reference: str | None = None,
        error: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> CallbackAck:
        """Report the ERP outcome of an order answered 202 (`POST /api/agents/callback`)."""
        stored = self.credentials()
        body = AgentCallback(
            job_id=job_id,
            status=status,
            erp_reference=erp_reference,
            error=error,
            metadata=metadata,
        )
        return await self._post(CALLBACK_PATH, body, stored.token, CallbackAck)

    async def run_heartbeats(
        self,
        interval_seconds: float,
        stop: asyncio.Event,
        *,
        sleep: Sleep | None = None,
        backoff_base_seconds: float = 1.0,
        backoff_cap_seconds: float = 60.0,
    ) -> int:
        """Heartbeat every `interval_seconds` until `stop` is set; returns the beats acknowledged.

        Rate limits and server or network trouble are logged and retried (see `retry_delay`);
        a refusal that retrying cannot fix (401, 403, 422…) is raised. `sleep` replaces the
        wait between heartbeats (tests); by default the wait ends early when `stop` is set.
        """
        wait = sleep or functools.partial(_sleep_unless_stopped, stop)
        beats = failures = 0
        while not stop.is_set():
            try:
                await self.heartbeat()
            except (AgentApiError, *TransientError) as exc:
                if isinstance(exc, AgentApiError) and not exc.retryable:
                    logger.error("heartbeat refused, stopping: %s", exc, extra=_context(exc))
                    raise
                failures += 1
                delay = retry_delay(
                    exc, failures, interval_seconds, backoff_base_seconds, backoff_cap_seconds
                )
                logger.warning(
                    "heartbeat failed (%s); next attempt in %.1f s",
                    describe_failure(exc),
                    delay,
                    extra={**_context(exc), "vendor_id": self.vendor_id, "failures": failures},
                )
            else:
                beats += 1
                failures = 0
                delay = interval_seconds
            await wait(delay)
        return beats

    async def _finish_interrupted_rotation(
        self, stored: AgentCredentials, refused: AgentApiError, correlation_id: str
    ) -> AgentRegistered:
        """The current token was refused: an earlier rotation may have gone through."""
        assert stored.pending_token is not None
        try:
            registered = await self._reregister(
                stored, stored.pending_token, stored.pending_token, correlation_id=correlation_id
            )
        except AgentApiError as exc:
            if exc.status != 401:
                raise
            # Neither token is valid (deregistered?): the pending one is of no further use.
            stored.model_copy(update={"pending_token": None}).save(self.credentials_path)
            raise refused from None
        logger.warning(
            "finished an interrupted token rotation", extra={"vendor_id": self.vendor_id}
        )
        return registered

    async def _reregister(
        self,
        stored: AgentCredentials,
        bearer: str,
        auth_token: str,
        *,
        agent_url: str | None = None,
        correlation_id: str | None = None,
    ) -> AgentRegistered:
        return await self._register(
            bearer,
            agent_url or stored.agent_url,
            stored.erp_type,
            auth_token,
            self.version,
            correlation_id=correlation_id,
        )

    async def _register(
        self,
        bearer: str,
        agent_url: str,
        erp_type: ErpType,
        auth_token: str,
        version: str | None,
        *,
        correlation_id: str | None = None,
    ) -> AgentRegistered:
        body = RegisterAgent(
            vendor_id=self.vendor_id,
            agent_url=agent_url,
            erp_type=erp_type,
            auth_token=auth_token,
            version=version,
        )
        return await self._post(REGISTER_PATH, body, bearer, AgentRegistered, correlation_id)

    def _save(
        self, token: str, registered: AgentRegistered, *, pending_token: str | None = None
    ) -> None:
        AgentCredentials(
            vendor_id=self.vendor_id,
            token=token,
            outbound_secret=registered.outbound_secret,
            agent_url=registered.agent_url,
            erp_type=registered.erp_type,
            pending_token=pending_token,
        ).save(self.credentials_path)

    async def _post(
        self,
        path: str,
        body: BaseModel,
        bearer: str,
        answer: type[Answer],
        correlation_id: str | None = None,
    ) -> Answer:
        """POST a JSON body as this vendor; the parsed answer, or AgentApiError."""
        payload = body.model_dump_json(by_alias=True, exclude_none=True).encode()
        return await self._send(path, payload, bearer, answer, correlation_id)

    async def post_json(
        self, path: str, payload: bytes, answer: type[Answer], correlation_id: str | None = None
    ) -> Answer:
        """POST an already serialized JSON body with the current token (pushes, SPEC §3.1)."""
        return await self._send(path, payload, self.credentials().token, answer, correlation_id)

    async def _send(
        self,
        path: str,
        payload: bytes,
        bearer: str,
        answer: type[Answer],
        correlation_id: str | None,
    ) -> Answer:
        correlation_id = correlation_id or _new_correlation_id()
        headers = {
            "Authorization": f"Bearer {bearer}",
            VENDOR_HEADER: self.vendor_id,
            CORRELATION_HEADER: correlation_id,
            "Content-Type": "application/json",
        }
        # A file-like body: aiohttp streams it instead of warning about large raw bytes.
        async with self._session.post(
            self._base_url + path, data=io.BytesIO(payload), headers=headers
        ) as response:
            content = await response.read()
            if not 200 <= response.status < 300:
                raise _api_error(response, content, correlation_id)
        try:
            return answer.model_validate_json(content)
        except ValidationError:
            raise AgentApiError(
                response.status,
                "unexpected_response",
                f"{path} answered {response.status} without a valid {answer.__name__}.",
                correlation_id=correlation_id,
            ) from None


def retry_delay(error: Exception, failures: int, interval: float, base: float, cap: float) -> float:
    """Seconds to wait after the `failures`-th failure in a row.

    With a Retry-After (429, some 503s): that long, and never less than the interval.
    Otherwise exponential from `base`, capped at `cap`, with jitter in its upper half so
    agents knocked over by the same outage do not come back in step.
    """
    if isinstance(error, AgentApiError) and error.retry_after is not None:
        return max(error.retry_after, interval)
    ceiling = min(cap, base * 2 ** min(failures - 1, 32))
    return _jitter.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or HTTP-date); None when unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _api_error(
    response: aiohttp.ClientResponse, content: bytes, correlation_id: str
) -> AgentApiError:
    try:
        problem = Problem.model_validate_json(content)
        code, detail = problem.code, problem.detail
    except ValidationError:
        # Not restosync speaking (a proxy, a wrong URL): say what came back, not the body.
        code, detail = f"http_{response.status}", response.reason or "no problem document"
    return AgentApiError(
        response.status,
        code,
        detail,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        correlation_id=correlation_id,
    )


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _new_correlation_id() -> str:
    return str(uuid.uuid4())


def describe_failure(exc: BaseException) -> str:
    """A failure in one line for logs and messages (never a header, so never a token)."""
    if isinstance(exc, AgentApiError):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _context(exc: Exception) -> dict[str, object]:
    if isinstance(exc, AgentApiError):
        return {"status": exc.status, "code": exc.code, "correlation_id": exc.correlation_id}
    return {}
