"""What tasks share inside one worker process: a pool, an HTTP session, the alerter.

procrastinate has no start/stop hooks for application resources, so they are opened on
first use and closed by `close_resources` when the worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp

from restosync.db.breakers import BREAKERS_CHANNEL
from restosync.db.notifications import listen
from restosync.db.pool import Pool, create_pool, open_pool
from restosync.services.alerts import Alerter
from restosync.services.breakers import BreakerRegistry
from restosync.services.mappings import MappingResolver
from restosync.settings import Settings


@dataclass(frozen=True)
class Resources:
    """Per-process resources of the worker."""

    pool: Pool
    http: aiohttp.ClientSession
    alerter: Alerter
    # Not listening: never caches, which is right for replays run now and then.
    mappings: MappingResolver
    # Circuit breakers of this process, closed by admin resets through LISTEN (issue 5).
    breakers: BreakerRegistry
    breaker_feed: asyncio.Task[None]


_resources: Resources | None = None
_lock = asyncio.Lock()


async def get_resources(settings: Settings) -> Resources:
    """The process's resources, opened on first use."""
    global _resources
    async with _lock:
        if _resources is None:
            pool = create_pool(
                settings.database_url, max_size=settings.DATABASE_POOL_MAX, name="tasks"
            )
            await open_pool(pool)
            http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            breakers = BreakerRegistry(settings)
            feed = asyncio.create_task(
                listen(
                    settings.database_url,
                    BREAKERS_CHANNEL,
                    on_notify=breakers.on_notify,
                    on_state=breakers.set_listening,
                ),
                name="breaker-resets",
            )
            _resources = Resources(
                pool=pool,
                http=http,
                alerter=Alerter(pool, settings, http),
                mappings=MappingResolver(pool, settings),
                breakers=breakers,
                breaker_feed=feed,
            )
        return _resources


async def close_resources() -> None:
    """Close what `get_resources` opened (worker shutdown)."""
    global _resources
    async with _lock:
        if _resources is not None:
            _resources.breaker_feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await _resources.breaker_feed
            await _resources.http.close()
            await _resources.pool.close()
            _resources = None
