"""The reference agent's HTTP side (SPEC §5.3): the endpoints restosync calls.

`POST {prefix}/sync/create-order` checks `Authorization: Bearer <outboundSecret>` and
the HMAC signature of the exact body (`X-Restosync-Signature: v1=<hex HMAC-SHA256(secret,
timestamp + "." + body)>`; a timestamp more than 5 minutes away is refused), then
deduplicates by `Idempotency-Key`: the same key gets the same answer and never a second
ERP order, even while the first request is still being served. It writes the order into
the ERP and answers `200 {erpReference, erpStatus}`, or in asynchronous mode `202` at
once and calls back (`POST /api/agents/callback`) with its own token afterwards.

With a `Catalog` (restosync.agent.catalog) it also serves what reconciliation reads
(SPEC §5.3, §6.1): `/sync/checksum` and `/sync/manifest` of a key range, `/sync/items`
and `/sync/stock` by key, authenticated the same way. `calls` counts every call per path.

For tests and demos, `behaviour` tells it to fail (an HTTP status, for the next N calls),
to be slow, or to answer asynchronously; `stop()` takes it down, `start()` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson
from aiohttp import web

from restosync.agent.catalog import Catalog, CatalogEntity
from restosync.agent.client import AgentApiError, AgentClient, TransientError, retry_delay
from restosync.agent.erp import ErpAdapter

logger = logging.getLogger(__name__)

CREATE_ORDER_PATH = "/sync/create-order"
CHECKSUM_PATH = "/sync/checksum"
MANIFEST_PATH = "/sync/manifest"
ITEMS_PATH = "/sync/items"
STOCK_PATH = "/sync/stock"
CATALOG_PATHS = (CHECKSUM_PATH, MANIFEST_PATH, ITEMS_PATH, STOCK_PATH)
# Entities reconciliation compares (warehouses are pushed, not reconciled).
ReconciledEntity = Literal["items", "stock"]
MAX_FETCH_KEYS = 5000
MAX_CLOCK_SKEW_SECONDS = 300.0
CALLBACK_ATTEMPTS = 5
MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass
class Behaviour:
    """What the agent does with the next calls (changed freely by tests and demos)."""

    asynchronous: bool = False
    fail_status: int | None = None
    fail_count: int | None = None  # None: every call fails while fail_status is set
    delay_seconds: float = 0.0
    callback_status: Literal["completed", "failed"] = "completed"
    callback_delay_seconds: float = 0.0
    callback_error: str = "refused by the ERP"
    # Catalog endpoints (CATALOG_PATHS): once `catalog_fail_after` more of their calls were
    # served, answer `catalog_fail_status` to every call of `catalog_fail_paths` (empty:
    # all four). Tests use it to make an agent fail in the middle of a reconciliation.
    catalog_fail_status: int | None = None
    catalog_fail_after: int = 0
    catalog_fail_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Received:
    """One call restosync made, and the status the agent answered."""

    idempotency_key: str | None
    sync_job_id: str | None
    correlation_id: str | None
    status: int
    at: float


@dataclass(frozen=True)
class Answer:
    """What the agent answered for an idempotency key (kept to answer repeats the same)."""

    status: int
    body: dict[str, Any]
    erp_reference: str | None


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256(secret, timestamp + "." + body), as restosync signs."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def is_authentic(
    secret: str, headers: Any, body: bytes, *, now: float, max_skew: float = MAX_CLOCK_SKEW_SECONDS
) -> bool:
    """Bearer is the outbound secret, the timestamp is recent and the signature matches."""
    scheme, _, bearer = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(bearer.encode(), secret.encode()):
        return False
    timestamp = headers.get("X-Restosync-Timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > max_skew:
        return False
    given = headers.get("X-Restosync-Signature", "")
    return hmac.compare_digest(given.encode(), expected_signature(secret, timestamp, body).encode())


class AgentServer:
    """The agent's endpoints in front of an ERP adapter, on an aiohttp server of its own."""

    def __init__(
        self,
        erp: ErpAdapter,
        outbound_secret: Callable[[], str],
        *,
        client: AgentClient | None = None,
        prefix: str = "",
        catalog: Catalog | None = None,
    ) -> None:
        self.erp = erp
        self.catalog = catalog
        self.behaviour = Behaviour()
        self.received: list[Received] = []
        # Calls received per path (any answer), e.g. calls["/sync/checksum"], and the time
        # spent computing catalog answers (benchmarks tell the agent's share from ours).
        self.calls: Counter[str] = Counter()
        self.catalog_seconds = 0.0
        # What arrived (Idempotency-Keys, before any answer) and the most calls served at once.
        self.arrivals: list[str | None] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._outbound_secret = outbound_secret
        self._client = client
        self._prefix = prefix.rstrip("/")
        self._answers: dict[str, asyncio.Future[Answer]] = {}
        self._callbacks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    @property
    def url(self) -> str:
        """The base URL restosync calls (agentUrl)."""
        return f"http://{self._host}:{self._port}{self._prefix}"

    def app(self) -> web.Application:
        """The aiohttp application serving the agent's endpoints."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(self._prefix + CREATE_ORDER_PATH, self.create_order)
        for path in CATALOG_PATHS:
            app.router.add_post(self._prefix + path, self.serve_catalog)
        return app

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        """Serve on `host:port` (a free port the first time, the same one after a stop)."""
        self._host = host
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, self._port if port is None else port)
        await site.start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        return self.url

    async def stop(self) -> None:
        """Stop serving (calls are refused) and drop pending callbacks."""
        for task in list(self._callbacks):
            task.cancel()
        for task in list(self._callbacks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def calls_for(self, idempotency_key: str) -> list[Received]:
        """Every call received with this Idempotency-Key."""
        return [call for call in self.received if call.idempotency_key == idempotency_key]

    def catalog_calls(self) -> int:
        """Calls received on the catalog endpoints (what a reconciliation cost the agent)."""
        return sum(self.calls[path] for path in CATALOG_PATHS)

    async def create_order(self, request: web.Request) -> web.Response:
        """`POST /sync/create-order {syncJobId, orderId, orderData}` (SPEC §5.3)."""
        self.calls[CREATE_ORDER_PATH] += 1
        raw = await request.read()
        key = request.headers.get("Idempotency-Key")
        self.arrivals.append(key)
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            answer = await self._answer(request, raw, key)
        finally:
            self._in_flight -= 1
        self.received.append(
            Received(
                idempotency_key=key,
                sync_job_id=_sync_job_id(raw),
                correlation_id=request.headers.get("X-Correlation-ID"),
                status=answer.status,
                at=time.monotonic(),
            )
        )
        return web.json_response(answer.body, status=answer.status, dumps=_dumps)

    async def _answer(self, request: web.Request, raw: bytes, key: str | None) -> Answer:
        if not is_authentic(self._outbound_secret(), request.headers, raw, now=time.time()):
            return Answer(401, {"error": "invalid credentials or signature"}, None)
        payload = _json_object(raw)
        if key is None or payload is None or not isinstance(payload.get("orderData"), dict):
            return Answer(
                400, {"error": "expected Idempotency-Key and {syncJobId, orderData}"}, None
            )
        behaviour = self.behaviour
        if behaviour.delay_seconds:
            await asyncio.sleep(behaviour.delay_seconds)
        if behaviour.fail_status is not None and behaviour.fail_count != 0:
            if behaviour.fail_count is not None:
                behaviour.fail_count -= 1
            return Answer(behaviour.fail_status, {"error": "failure injected"}, None)
        known = self._answers.get(key)
        if known is None:
            # Claimed before any await: a concurrent repeat waits for this answer.
            known = self._answers[key] = asyncio.get_running_loop().create_future()
            try:
                known.set_result(await self._process(payload, key))
            except BaseException as exc:
                del self._answers[key]
                known.set_exception(exc)
                raise
        answer = await asyncio.shield(known)
        if answer.status == 202:
            self._schedule_callback(str(payload.get("syncJobId")), answer)
        return answer

    async def _process(self, payload: dict[str, Any], key: str) -> Answer:
        behaviour = self.behaviour
        if behaviour.asynchronous and behaviour.callback_status == "failed":
            return Answer(202, {"accepted": True}, None)
        order = await self.erp.create_order(payload["orderData"], key)
        if behaviour.asynchronous:
            return Answer(202, {"accepted": True}, order.reference)
        return Answer(
            200, {"erpReference": order.reference, "erpStatus": "created"}, order.reference
        )

    def _schedule_callback(self, sync_job_id: str, answer: Answer) -> None:
        task = asyncio.create_task(self._call_back(sync_job_id, answer))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _call_back(self, sync_job_id: str, answer: Answer) -> None:
        """Report the outcome; retried on rate limits, server and network trouble."""
        if self._client is None:
            logger.error("asynchronous mode without a client: no callback for %s", sync_job_id)
            return
        behaviour = self.behaviour
        await asyncio.sleep(behaviour.callback_delay_seconds)
        for failures in range(1, CALLBACK_ATTEMPTS + 1):
            try:
                if answer.erp_reference is not None:
                    await self._client.callback(
                        sync_job_id,
                        "completed",
                        erp_reference=answer.erp_reference,
                        metadata={"erpStatus": "created"},
                    )
                else:
                    await self._client.callback(
                        sync_job_id, "failed", error=behaviour.callback_error
                    )
                return
            except (AgentApiError, *TransientError) as exc:
                if isinstance(exc, AgentApiError) and not exc.retryable:
                    logger.error("callback for %s refused: %s", sync_job_id, exc)
                    return
                await asyncio.sleep(retry_delay(exc, failures, 0.0, 0.2, 5.0))
        logger.error("callback for %s not delivered", sync_job_id)

    async def serve_catalog(self, request: web.Request) -> web.Response:
        """`/sync/checksum`, `/sync/manifest`, `/sync/items`, `/sync/stock` (SPEC §5.3)."""
        path = request.path.removeprefix(self._prefix)
        self.calls[path] += 1
        raw = await request.read()
        if not is_authentic(self._outbound_secret(), request.headers, raw, now=time.time()):
            return _error(401, "invalid credentials or signature")
        if self.catalog is None:
            return _error(501, "this agent serves no catalog")
        behaviour = self.behaviour
        if behaviour.delay_seconds:
            await asyncio.sleep(behaviour.delay_seconds)
        if self._injected_failure(path):
            assert behaviour.catalog_fail_status is not None
            return _error(behaviour.catalog_fail_status, "failure injected")
        payload = _json_object(raw)
        started = time.perf_counter()
        answer = None if payload is None else _catalog_answer(self.catalog, path, payload)
        self.catalog_seconds += time.perf_counter() - started
        if answer is None:
            return _error(400, f"malformed request body for {path}")
        return web.json_response(answer, dumps=_dumps)

    def _injected_failure(self, path: str) -> bool:
        behaviour = self.behaviour
        if behaviour.catalog_fail_status is None:
            return False
        if behaviour.catalog_fail_paths and path not in behaviour.catalog_fail_paths:
            return False
        if behaviour.catalog_fail_after > 0:
            behaviour.catalog_fail_after -= 1
            return False
        return True


def _catalog_answer(catalog: Catalog, path: str, payload: dict[str, Any]) -> Any:
    """The answer to a well-formed catalog request; None when the request is malformed."""
    if path in (CHECKSUM_PATH, MANIFEST_PATH):
        start, end = payload.get("rangeStart"), payload.get("rangeEnd")
        if payload.get("entity") not in get_args(ReconciledEntity) or not _bounds_ok(start, end):
            return None
        entity: CatalogEntity = "items" if payload["entity"] == "items" else "stock"
        if path == MANIFEST_PATH:
            return catalog.manifest(entity, start, end)
        checksum, count = catalog.checksum(entity, start, end)
        return {"checksum": checksum, "count": count}
    wanted: CatalogEntity = "items" if path == ITEMS_PATH else "stock"
    keys = payload.get("skus" if wanted == "items" else "keys")
    if not isinstance(keys, list) or len(keys) > MAX_FETCH_KEYS:
        return None
    if not all(isinstance(key, str) for key in keys):
        return None
    return catalog.fetch(wanted, keys)


def _bounds_ok(*bounds: Any) -> bool:
    return all(bound is None or isinstance(bound, str) for bound in bounds)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, dumps=_dumps)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _sync_job_id(raw: bytes) -> str | None:
    payload = _json_object(raw) or {}
    value = payload.get("syncJobId")
    return value if isinstance(value, str) else None


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
