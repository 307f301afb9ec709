"""What tasks share inside one worker process: a pool, an HTTP session, the alerter.

procrastinate has no start/stop hooks for application resources, so they are opened on
first use and closed by `close_resources` when the worker stops.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from restosync.db.pool import Pool, create_pool, open_pool
from restosync.services.alerts import Alerter
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
            _resources = Resources(
                pool=pool,
                http=http,
                alerter=Alerter(pool, settings, http),
                mappings=MappingResolver(pool, settings),
            )
        return _resources


async def close_resources() -> None:
    """Close what `get_resources` opened (worker shutdown)."""
    global _resources
    async with _lock:
        if _resources is not None:
            await _resources.http.close()
            await _resources.pool.close()
            _resources = None
