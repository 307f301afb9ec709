"""Request rate limits shared by every web process, counted in PostgreSQL (SPEC §3.1, §7)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from psycopg import pq

from restosync.db import ratelimit as ratelimit_db
from restosync.db.pool import Connection, Pool, connection
from restosync.errors import DatabaseUnavailable, TooManyRequests
from restosync.settings import Settings

logger = logging.getLogger(__name__)

# Every limit of restosync is "per minute": the sliding window is one minute long.
WINDOW_SECONDS = 60
# The limiter waits at most this long for a pooled connection; past it, the request goes
# through unlimited (fail-open) rather than waiting longer only to be counted.
CONNECTION_WAIT_SECONDS = 1.0
# Each process deletes expired counters at most this often, right after a hit.
PRUNE_INTERVAL_SECONDS = 300.0


@dataclass(frozen=True)
class RateLimit:
    """One rule: at most `per_minute` accepted requests per identity in any sliding minute."""

    name: str
    per_minute: int

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a rate limit needs a name")
        if self.per_minute < 1:
            raise ValueError(f"rate limit {self.name!r}: per_minute must be at least 1")


def limits_from(settings: Settings) -> dict[str, RateLimit]:
    """The five rules of SPEC §3.1 with the configured numbers, by name."""
    rules = (
        RateLimit("register", settings.RATE_LIMIT_REGISTER_PER_MINUTE),
        RateLimit("heartbeat", settings.RATE_LIMIT_HEARTBEAT_PER_MINUTE),
        RateLimit("sync", settings.RATE_LIMIT_SYNC_PER_MINUTE),
        RateLimit("sync_batch", settings.RATE_LIMIT_SYNC_BATCH_PER_MINUTE),
        RateLimit("default", settings.RATE_LIMIT_DEFAULT_PER_MINUTE),
    )
    return {rule.name: rule for rule in rules}


class RateLimiter:
    """Counts requests in `rate_limit_counters`, so every web process shares the counts.

    One hit is one autocommitted statement. Identities must never be secrets: pass a
    client IP or a vendor id, not a token.

    Fail-open: when the database is unavailable (no connection within
    CONNECTION_WAIT_SECONDS, connection lost, statement cancelled), the request is let
    through and a warning is logged. A limiter outage must not turn every request into an
    error; a request that needs the database then fails on its own access with a 503.
    Any other database error (a missing migration, a bug) is raised.
    """

    def __init__(self, pool: Pool, *, enabled: bool) -> None:
        self._pool = pool
        self._enabled = enabled
        self._next_prune = 0.0

    async def hit(self, limit: RateLimit, identity: str) -> None:
        """Count one request of `identity`; raise TooManyRequests past the limit."""
        if not self._enabled:
            return
        try:
            async with (
                connection(self._pool, wait=CONNECTION_WAIT_SECONDS) as conn,
                _autocommit(conn),
            ):
                outcome = await ratelimit_db.hit(
                    conn,
                    limit_name=limit.name,
                    identity=identity,
                    window_limit=limit.per_minute,
                    window_seconds=WINDOW_SECONDS,
                )
                await self._prune_now_and_then(conn)
        except DatabaseUnavailable:
            logger.warning("rate limit %r not enforced: database unavailable", limit.name)
            return
        if not outcome.accepted:
            raise TooManyRequests(
                f"Rate limit {limit.name!r} exceeded: at most {limit.per_minute} requests "
                "per minute.",
                headers={"Retry-After": str(retry_after(outcome.retry_after_seconds))},
            )

    async def _prune_now_and_then(self, conn: Connection) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL_SECONDS
        pruned = await ratelimit_db.prune(conn)
        if pruned:
            logger.debug("pruned %d expired rate-limit counters", pruned)


def retry_after(seconds: float | None) -> int:
    """Whole seconds for Retry-After: rounded up, so a client that waits is let in; at least 1."""
    return max(1, math.ceil(seconds or 0))


@asynccontextmanager
async def _autocommit(conn: Connection) -> AsyncIterator[None]:
    """Run one statement without BEGIN/COMMIT round trips, then give the pool its mode back."""
    await conn.set_autocommit(True)
    try:
        yield
    finally:
        # A broken or busy connection is discarded by the pool anyway; touching it here
        # would only replace the original error.
        if conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            await conn.set_autocommit(False)
