"""Circuit breakers per (vendorId, apiType) in each worker process (SPEC §6).

aiobreaker runs the state machine in memory: BREAKER_FAIL_MAX consecutive failures open
a breaker, it half-opens after BREAKER_RESET_SECONDS (one trial call), a success closes
it. Its listener API reports each transition; they are logged at once and written to
`circuit_breakers` (the shared view of every process) by `flush`, which the caller awaits
after the call, with a `circuit_breaker_open` alert when one opened.

An admin reset closes the breakers in `circuit_breakers` and NOTIFYs
`restosync_breakers`; every worker process LISTENs (restosync.worker.resources) and
closes its own. A reset missed while a process is not listening is not lost for long:
an open breaker half-opens by itself after BREAKER_RESET_SECONDS.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

import orjson
from aiobreaker import CircuitBreaker, CircuitBreakerError, CircuitBreakerListener
from aiobreaker.state import CircuitBreakerBaseState, CircuitBreakerState

from restosync.db import breakers as breakers_db
from restosync.db.breakers import BreakerState
from restosync.db.pool import Pool, connection, transaction
from restosync.models.alerts import Alert, AlertType
from restosync.models.breakers import BreakerReset, BreakerStatus, ResetBreaker
from restosync.services import audit
from restosync.services.alerts import Alerter
from restosync.services.audit import Actor
from restosync.settings import Settings

logger = logging.getLogger(__name__)

API_CREATE_ORDER = "create_order"
_STATES = {
    CircuitBreakerState.CLOSED: "closed",
    CircuitBreakerState.OPEN: "open",
    CircuitBreakerState.HALF_OPEN: "half_open",
}
Result = TypeVar("Result")
Key = tuple[str, str]


class BreakerOpen(Exception):
    """The breaker refused the call: no call was made."""


class _Failed(Exception):
    """A call whose result counts as a failure for the breaker (carries the result)."""

    def __init__(self, result: object) -> None:
        super().__init__("agent call failed")
        self.result = result


class _Recorder(CircuitBreakerListener):  # type: ignore[misc]
    """Logs each transition of one breaker and queues it for the shared view."""

    def __init__(self, registry: BreakerRegistry, key: Key) -> None:
        self._registry = registry
        self._key = key

    def state_change(
        self,
        breaker: CircuitBreaker,
        old: CircuitBreakerBaseState | None,
        new: CircuitBreakerBaseState,
    ) -> None:
        """Called by aiobreaker on every transition."""
        state = _STATES[new.state]
        opened = breaker._state_storage.opened_at  # naive UTC, aiobreaker's clock
        vendor_id, api_type = self._key
        logger.warning(
            "circuit breaker %s -> %s",
            _STATES[old.state] if old is not None else "none",
            state,
            extra={"vendor_id": vendor_id, "api_type": api_type},
        )
        self._registry.pending.append(
            BreakerState(
                vendor_id,
                api_type,
                state,
                breaker.fail_counter,
                opened.replace(tzinfo=UTC) if opened else None,
            )
        )


class BreakerRegistry:
    """The breakers of one process, created on first use per (vendorId, apiType)."""

    def __init__(self, settings: Settings) -> None:
        self._fail_max = settings.BREAKER_FAIL_MAX
        self._reset = timedelta(seconds=settings.BREAKER_RESET_SECONDS)
        self._breakers: dict[Key, CircuitBreaker] = {}
        self.pending: list[BreakerState] = []
        self.listening = False

    def _breaker(self, key: Key) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                fail_max=self._fail_max,
                timeout_duration=self._reset,
                listeners=[_Recorder(self, key)],
                name=f"{key[0]}/{key[1]}",
            )
            self._breakers[key] = breaker
        return breaker

    def state(self, vendor_id: str, api_type: str) -> str:
        """closed, open or half_open ("closed" for a breaker never used)."""
        breaker = self._breakers.get((vendor_id, api_type))
        return _STATES[breaker.current_state] if breaker else "closed"

    def open_for(self, vendor_id: str, api_type: str) -> float | None:
        """Seconds until an open breaker lets a trial call through; None when calls may go."""
        breaker = self._breakers.get((vendor_id, api_type))
        if breaker is None or breaker.current_state is not CircuitBreakerState.OPEN:
            return None
        # aiobreaker's own time_until_open mixes local and UTC clocks: compute it here, on
        # its clock (naive UTC, set by CircuitBreaker.open).
        opened_at = breaker._state_storage.opened_at
        if opened_at is None:
            return None
        now = datetime.now(UTC).replace(tzinfo=None)
        remaining = (opened_at + breaker.timeout_duration - now).total_seconds()
        return remaining if remaining > 0 else None

    async def call(
        self,
        vendor_id: str,
        api_type: str,
        call: Callable[[], Awaitable[Result]],
        is_failure: Callable[[Result], bool],
    ) -> Result:
        """`call()` through the breaker; its result, failures included (BreakerOpen: no call)."""

        async def guarded() -> Result:
            result = await call()
            if is_failure(result):
                raise _Failed(result)
            return result

        try:
            result: Result = await self._breaker((vendor_id, api_type)).call_async(guarded)
        except _Failed as exc:
            return cast(Result, exc.result)
        except CircuitBreakerError as exc:
            if isinstance(exc.__cause__, _Failed):  # this very call opened the breaker
                return cast(Result, exc.__cause__.result)
            raise BreakerOpen(f"circuit breaker {vendor_id}/{api_type} open") from None
        return result

    def reset(self, vendor_id: str, api_type: str | None = None) -> None:
        """Close a vendor's breakers (one API type, or all) in this process."""
        for (vendor, api), breaker in self._breakers.items():
            if vendor == vendor_id and api_type in (None, api):
                if breaker.current_state is not CircuitBreakerState.CLOSED:
                    breaker.close()
                breaker._state_storage.reset_counter()

    def on_notify(self, payload: str) -> None:
        """A reset NOTIFY from another process (or this one)."""
        try:
            message = orjson.loads(payload)
            vendor_id, api_type = message["vendorId"], message.get("apiType")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("ignored a malformed breaker reset notification")
            return
        logger.info("circuit breaker reset received", extra={"vendor_id": vendor_id})
        self.reset(str(vendor_id), api_type if isinstance(api_type, str) else None)

    def set_listening(self, listening: bool) -> None:
        """Whether resets from other processes are being received."""
        if listening != self.listening:
            self.listening = listening
            logger.info("breaker resets %s", "received" if listening else "NOT received")

    async def flush(self, pool: Pool, alerter: Alerter | None) -> None:
        """Write queued transitions to the shared view; alert on openings. Never raises."""
        states, self.pending = self.pending, []
        if not states:
            return
        try:
            async with transaction(pool) as conn:
                await breakers_db.record(conn, states)
            if alerter is not None:
                for opened in {(s.vendor_id, s.api_type): s for s in states if s.state == "open"}:
                    await alerter.raise_alert(_open_alert(*opened, self._fail_max))
        except Exception:
            # The breaker itself works without its shared view: never fail a push for it.
            logger.exception("could not record circuit breaker transitions")


def _open_alert(vendor_id: str, api_type: str, fail_max: int) -> Alert:
    return Alert(
        type=AlertType.CIRCUIT_BREAKER_OPEN,
        vendor_id=vendor_id,
        summary=f"Circuit breaker {api_type} of vendor {vendor_id} opened",
        details={"apiType": api_type, "consecutiveFailures": fail_max},
    )


async def status(pool: Pool) -> BreakerStatus:
    """Every breaker any worker process reported."""
    async with connection(pool) as conn:
        return BreakerStatus(data=await breakers_db.views(conn))


async def reset(pool: Pool, actor: Actor, request: ResetBreaker) -> BreakerReset:
    """Close breakers in the shared view and in every worker process (audited)."""
    async with transaction(pool) as conn:
        closed = await breakers_db.reset(conn, request.vendor_id, request.api_type)
        await audit.record(
            conn,
            actor,
            "circuit_breaker.reset",
            target_type="circuit_breaker",
            target_id=request.vendor_id,
            details={**request.model_dump(mode="json"), "closed": len(closed)},
        )
    return BreakerReset(reset=closed)
