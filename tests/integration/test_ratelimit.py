"""Rate limits counted in PostgreSQL: exact at N+1, per key, shared by processes, pruned."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import DictRow

from restosync.db import ratelimit as ratelimit_db
from restosync.db.pool import Pool, create_pool, open_pool
from restosync.errors import TooManyRequests
from restosync.services.ratelimit import RateLimit, RateLimiter

Conn = psycopg.AsyncConnection[DictRow]

# A window boundary (a multiple of 60 s since the epoch) far from the real clock.
W = datetime(2030, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return W + timedelta(seconds=seconds)


@pytest.fixture
async def second_pool(make_pool: Callable[[], Awaitable[Pool]]) -> Pool:
    """Another pool on the same database: stands for another web process."""
    return await make_pool()


async def _counter(db: Conn, limit_name: str, identity: str) -> dict[str, Any]:
    cur = await db.execute(
        "SELECT * FROM rate_limit_counters WHERE limit_name = %s AND identity = %s",
        [limit_name, identity],
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def _fill(limiter: RateLimiter, limit: RateLimit, identity: str) -> None:
    for _ in range(limit.per_minute):
        await limiter.hit(limit, identity)


# The service: what the web layer sees ------------------------------------------------------


async def test_the_request_past_the_limit_is_refused_with_retry_after(pool: Pool, db: Conn) -> None:
    limiter = RateLimiter(pool, enabled=True)
    limit = RateLimit("register", 3)
    await _fill(limiter, limit, "192.0.2.10")

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit(limit, "192.0.2.10")

    assert "register" in refused.value.detail
    retry = int(refused.value.headers["Retry-After"])
    # A full window frees a slot after the window ends plus 60/3 s of decay: at most 80 s.
    assert 1 <= retry <= 80
    row = await _counter(db, "register", "192.0.2.10")
    assert (row["current_count"] + row["previous_count"], row["rejected_count"]) == (3, 1)
    assert retry == math.ceil((row["blocked_until"] - row["last_hit_at"]).total_seconds())


async def test_identities_are_counted_apart(pool: Pool) -> None:
    limiter = RateLimiter(pool, enabled=True)
    limit = RateLimit("register", 2)
    await _fill(limiter, limit, "192.0.2.1")
    with pytest.raises(TooManyRequests):
        await limiter.hit(limit, "192.0.2.1")

    await limiter.hit(limit, "192.0.2.2")
    await limiter.hit(limit, "2001:db8::2")


async def test_limits_are_counted_apart(pool: Pool) -> None:
    limiter = RateLimiter(pool, enabled=True)
    heartbeat, sync = RateLimit("heartbeat", 2), RateLimit("sync", 2)
    await _fill(limiter, heartbeat, "vendor-a")
    with pytest.raises(TooManyRequests):
        await limiter.hit(heartbeat, "vendor-a")

    await _fill(limiter, sync, "vendor-a")


async def test_two_processes_share_the_count(pool: Pool, second_pool: Pool) -> None:
    first, second = RateLimiter(pool, enabled=True), RateLimiter(second_pool, enabled=True)
    limit = RateLimit("sync_batch", 4)
    for limiter in (first, second, first, second):
        await limiter.hit(limit, "vendor-b")

    for limiter in (first, second):
        with pytest.raises(TooManyRequests):
            await limiter.hit(limit, "vendor-b")


async def test_concurrent_hits_never_pass_the_limit(pool: Pool, second_pool: Pool) -> None:
    limiters = [RateLimiter(pool, enabled=True), RateLimiter(second_pool, enabled=True)]
    limit = RateLimit("sync", 5)

    async def one(i: int) -> bool:
        try:
            await limiters[i % 2].hit(limit, "vendor-c")
        except TooManyRequests:
            return False
        return True

    results = await asyncio.gather(*(one(i) for i in range(12)))
    assert results.count(True) == 5


async def test_disabled_never_raises_nor_touches_the_database(database_url: str) -> None:
    never_opened = create_pool(database_url, max_size=1, name="test-ratelimit-off")
    limiter = RateLimiter(never_opened, enabled=False)
    for _ in range(5):
        await limiter.hit(RateLimit("register", 1), "192.0.2.3")


async def test_a_database_outage_lets_requests_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = create_pool("postgresql://nobody@127.0.0.1:1/none", max_size=1, name="test-dead")
    await open_pool(dead)
    try:
        with caplog.at_level(logging.WARNING, logger="restosync.services.ratelimit"):
            await RateLimiter(dead, enabled=True).hit(RateLimit("default", 1), "192.0.2.4")
    finally:
        await dead.close()
    assert "rate limit 'default' not enforced" in caplog.text
    assert "192.0.2.4" not in caplog.text


async def test_retry_after_is_honest_on_the_real_clock(db: Conn) -> None:
    """A one-second window: refused, wait the time promised, accepted again."""
    for _ in range(2):
        assert (await ratelimit_db.hit(db, **_key("fast"), window_seconds=1)).accepted
    refused = await ratelimit_db.hit(db, **_key("fast"), window_seconds=1)
    assert not refused.accepted
    assert refused.retry_after_seconds is not None
    assert 0 < refused.retry_after_seconds <= 1.5

    await asyncio.sleep(refused.retry_after_seconds)
    assert (await ratelimit_db.hit(db, **_key("fast"), window_seconds=1)).accepted


# The algorithm, on a clock we hold --------------------------------------------------------


def _key(identity: str, window_limit: int = 2) -> dict[str, Any]:
    return {"limit_name": "test", "identity": identity, "window_limit": window_limit}


async def test_sliding_window_counts_the_previous_minute_by_its_weight(db: Conn) -> None:
    key = _key("vendor-d", window_limit=3)
    for second in (10, 11, 12):
        assert (await ratelimit_db.hit(db, **key, at=at(second))).accepted

    full = await ratelimit_db.hit(db, **key, at=at(13))
    # Current window full: next window, plus 60/3 s for the 3 carried over to decay to 2.
    assert (full.accepted, full.retry_after_seconds) == (False, 67.0)

    rolled = await ratelimit_db.hit(db, **key, at=at(60))
    assert (rolled.previous_count, rolled.current_count) == (3, 0)
    assert (rolled.accepted, rolled.retry_after_seconds) == (False, 20.0)
    assert rolled.rejected_count == 1  # the new window's refusals only

    assert not (await ratelimit_db.hit(db, **key, at=at(79.999))).accepted
    assert (await ratelimit_db.hit(db, **key, at=at(80))).accepted  # 3 x 40/60 + 1 = 3
    assert not (await ratelimit_db.hit(db, **key, at=at(80.5))).accepted
    assert (await ratelimit_db.hit(db, **key, at=at(100))).accepted  # 3 x 20/60 + 2 = 3


async def test_two_windows_later_everything_is_forgotten(db: Conn) -> None:
    key = _key("vendor-e")
    for second in (1, 2):
        await ratelimit_db.hit(db, **key, at=at(second))
    assert not (await ratelimit_db.hit(db, **key, at=at(3))).accepted

    later = await ratelimit_db.hit(db, **key, at=at(120))
    assert later.accepted
    assert (later.previous_count, later.current_count, later.rejected_count) == (0, 1, 0)
    assert later.window_start == at(120)


async def test_a_limit_of_one_waits_for_the_whole_next_window(db: Conn) -> None:
    key = _key("vendor-f", window_limit=1)
    assert (await ratelimit_db.hit(db, **key, at=at(30))).accepted
    refused = await ratelimit_db.hit(db, **key, at=at(31))
    assert refused.retry_after_seconds == 89.0
    assert not (await ratelimit_db.hit(db, **key, at=at(119.9))).accepted
    assert (await ratelimit_db.hit(db, **key, at=at(120))).accepted


async def test_prune_deletes_expired_counters_only(db: Conn) -> None:
    now = datetime.now(UTC)
    await ratelimit_db.hit(db, **_key("old"), at=now - timedelta(minutes=10))
    await ratelimit_db.hit(db, **_key("recent"), at=now - timedelta(seconds=30))
    await ratelimit_db.hit(db, **_key("fresh"))

    assert await ratelimit_db.prune(db) == 1

    cur = await db.execute("SELECT identity FROM rate_limit_counters ORDER BY identity")
    assert [row["identity"] for row in await cur.fetchall()] == ["fresh", "recent"]
    cur = await db.execute("SELECT restosync_prune_rate_limits() AS pruned")
    assert await cur.fetchone() == {"pruned": 0}
