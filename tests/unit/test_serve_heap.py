"""`restosync serve` / `up` leave the start-up heap out of garbage collections."""

from __future__ import annotations

import gc

from aiohttp import web

from restosync.cli import _freeze_heap


async def test_startup_objects_are_frozen_and_request_garbage_still_collected() -> None:
    gc.unfreeze()
    try:
        await _freeze_heap(web.Application())
        assert gc.get_freeze_count() > 1000  # modules, schemas, the app: what start-up made
        cycle: list[object] = []
        cycle.append(cycle)  # garbage made after start-up is collected as before
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
