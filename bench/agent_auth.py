"""Benchmark: agent authentication per request, cached (steady state) vs bcrypt every time.

    .venv/bin/python -m bench.agent_auth [--requests 2000] [--rounds 12]

Uses DATABASE_URL when set (a scratch database is created and dropped on that server),
else an embedded PostgreSQL in a temporary folder. Two measurements, each in one run:

1. `AgentAuthenticator.authenticate()` in process: cache hits vs a bcrypt check per call.
2. `POST /api/agents/heartbeat` over loopback HTTP against the full app, sequentially:
   with the token cache vs with it switched off (every request pays bcrypt).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time

import aiohttp
import psycopg

from bench.common import bench_database, machine, percentile, serving
from restosync.db.pool import create_pool, open_pool
from restosync.services.agent_auth import AgentAuthenticator
from restosync.settings import load_settings
from restosync.web.keys import AGENT_AUTH

VENDOR = "bench-vendor"
TOKEN = "bench-token-" + secrets.token_hex(16)


def _report(name: str, samples: list[float]) -> dict[str, float]:
    row = {
        "mean_ms": statistics.fmean(samples) * 1000,
        "p50_ms": percentile(samples, 0.50) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
    }
    print(
        f"  {name:<34} mean {row['mean_ms']:8.3f} ms  p50 {row['p50_ms']:8.3f} ms  "
        f"p99 {row['p99_ms']:8.3f} ms  (n={len(samples)})"
    )
    return row


async def _in_process(
    url: str, rounds: int, requests: int
) -> tuple[dict[str, float], dict[str, float]]:
    settings = load_settings(DATABASE_URL=url, AGENT_TOKEN_BCRYPT_ROUNDS=rounds)
    pool = create_pool(url, max_size=2, name="bench")
    await open_pool(pool)
    auth = AgentAuthenticator(pool, settings)
    auth.set_listening(True)
    await auth.authenticate(VENDOR, TOKEN)  # warm: first call verifies with bcrypt
    cached = []
    for _ in range(requests):
        started = time.perf_counter()
        await auth.authenticate(VENDOR, TOKEN)
        cached.append(time.perf_counter() - started)
    auth.set_listening(False)  # no cache: what every request would cost without it
    uncached = []
    for _ in range(max(20, requests // 50)):
        started = time.perf_counter()
        await auth.authenticate(VENDOR, TOKEN)
        uncached.append(time.perf_counter() - started)
    await pool.close()
    print("authenticate() in process:")
    return _report("cached (steady state)", cached), _report("bcrypt every call", uncached)


async def _over_http(
    url: str, rounds: int, requests: int
) -> tuple[dict[str, float], dict[str, float]]:
    settings = load_settings(
        DATABASE_URL=url,
        API_SECRET="b" * 32,
        AGENT_SECRET="bench-enrolment",
        AGENT_TOKEN_BCRYPT_ROUNDS=rounds,
        RATE_LIMITS_ENABLED=False,
        LOG_LEVEL="WARNING",
    )
    async with serving(settings) as (app, base):
        headers = {"Authorization": f"Bearer {TOKEN}", "X-Vendor-ID": VENDOR}
        body = {"vendorId": VENDOR}
        for _ in range(100):  # the credentials feed connects in the background
            if app[AGENT_AUTH].listening:
                break
            await asyncio.sleep(0.05)

        async def run(session: aiohttp.ClientSession, n: int) -> list[float]:
            samples = []
            for _ in range(n):
                started = time.perf_counter()
                async with session.post(
                    f"{base}/api/agents/heartbeat", json=body, headers=headers
                ) as r:
                    assert r.status == 200, await r.text()
                samples.append(time.perf_counter() - started)
            return samples

        async with aiohttp.ClientSession() as session:
            await run(session, 20)
            cached = await run(session, requests)
            app[AGENT_AUTH].listening = False  # bypass the cache (not forget: it stays off)
            uncached = await run(session, max(20, requests // 50))
    print("POST /api/agents/heartbeat over loopback HTTP:")
    return _report("token cache", cached), _report("bcrypt per request", uncached)


def _enrol(url: str, rounds: int) -> None:
    import base64
    import hashlib

    import bcrypt

    hashed = bcrypt.hashpw(
        base64.b64encode(hashlib.sha256(TOKEN.encode()).digest()), bcrypt.gensalt(rounds)
    ).decode()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_registry (vendor_id, agent_url, erp_type, auth_token_hash, "
            "outbound_secret) VALUES (%s, 'http://127.0.0.1:9/', 'custom', %s, %s)",
            [VENDOR, hashed, secrets.token_urlsafe(32)],
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=12, help="bcrypt cost (default 12)")
    args = parser.parse_args()

    with bench_database() as url:
        _enrol(url, args.rounds)
        print(f"machine: {machine()}, bcrypt cost {args.rounds}")
        cached, uncached = await _in_process(url, args.rounds, args.requests)
        print(f"  -> cached is {uncached['mean_ms'] / cached['mean_ms']:.0f}x cheaper")
        http_cached, http_uncached = await _over_http(url, args.rounds, args.requests)
        print(
            f"  -> {1000 / http_cached['mean_ms']:.0f} req/s vs "
            f"{1000 / http_uncached['mean_ms']:.1f} req/s sequentially "
            f"({http_uncached['mean_ms'] / http_cached['mean_ms']:.0f}x)"
        )


if __name__ == "__main__":
    asyncio.run(main())
