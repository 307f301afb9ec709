"""Benchmark: orders created and delivered end to end, and commit → agent latency.

    .venv/bin/python -m bench.orders [--orders 2000] [--vendors 100] [--clients 8]
                                     [--backlog 1000] [--latency-orders 200] [--poll 1.0]

Uses DATABASE_URL when set (a scratch database is created and dropped on that server),
else an embedded PostgreSQL in a temporary folder. In one run:

1. Drain: `--backlog` orders queued before a real
   `procrastinate worker --queues=order-sync --concurrency 5` process starts; it pushes
   them to a reference agent server answering 200 (one server for every vendor). The
   worker side's capacity alone, first to last order received by the agent.
2. Throughput: the full web app on loopback HTTP, `--clients` concurrent clients POST
   `/api/orders` across `--vendors` vendors while the worker pushes them. Orders/s
   created (HTTP 201s) and delivered end to end (first request sent → last order
   received by the agent).
3. Latency with an idle worker: orders created one at a time (each after the previous
   was delivered), commit → agent received. The commit is timed exactly by running the
   order service's own transaction step in process (same code as `POST /api/orders`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psycopg
from aiohttp import web

from bench.common import bench_database, machine, percentile, serving
from restosync.agent.erp import SimulatedErp
from restosync.agent.server import AgentServer
from restosync.db.pool import transaction
from restosync.models.orders import CreateOrder
from restosync.services import orders
from restosync.services.audit import Actor
from restosync.settings import Settings, load_settings
from restosync.web.keys import POOL, QUEUE_APP

API_SECRET = "o" * 32
SECRET = secrets.token_urlsafe(32)
BIN = Path(sys.executable).parent


def _body(vendor: str, n: int) -> dict[str, object]:
    return {
        "vendorId": vendor,
        "customerId": f"c-{n}",
        "items": [
            {"sku": "SKU-1", "quantity": 2, "unitPrice": "10.00"},
            {"sku": "SKU-2", "quantity": 1, "unitPrice": "4.50", "discountRate": 10},
        ],
    }


def _seed(url: str, agent_url: str, vendors: list[str]) -> None:
    """Agents (one shared reference agent server) and a two-item catalog per vendor."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO agent_registry (vendor_id, agent_url, erp_type, auth_token_hash, "
            "outbound_secret, last_heartbeat) SELECT v, %s, 'custom', %s, %s, now() "
            "FROM unnest(%s::text[]) AS v",
            [agent_url, "$2b$12$" + "x" * 53, SECRET, vendors],
        )
        conn.execute(
            "INSERT INTO items (vendor_id, sku, name, slug, erp_unit_code, erp_vat_code, "
            "unit_code, vat_code, vat_rate, content_hash, last_synced_at) "
            "SELECT v, sku, 'Item ' || sku, lower(sku), 'U', 'V', 'PCE', 'VAT', 20, md5(sku), "
            "now() FROM unnest(%s::text[]) AS v, unnest(ARRAY['SKU-1', 'SKU-2']) AS sku",
            [vendors],
        )


def _worker(url: str, poll: float) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DATABASE_URL": url,
        "API_SECRET": API_SECRET,
        "WORKER_POLL_SECONDS": str(poll),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(  # noqa: S603 (our own executable, fixed arguments)
        [
            str(BIN / "procrastinate"),
            "--app=restosync.worker.app",
            "worker",
            "--queues=order-sync",
            "--concurrency=5",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_for(agent: AgentServer, count: int, within: float = 300) -> float:
    """Monotonic time when the agent had received `count` orders."""
    deadline = time.monotonic() + within
    while len(agent.received) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(agent.received)} of {count} orders delivered")
        await asyncio.sleep(0.002)
    return max(call.at for call in agent.received[:count])


async def _throughput(
    base: str, agent: AgentServer, vendors: list[str], n: int, clients: int
) -> None:
    headers = {"X-API-Key": API_SECRET}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = _body(vendors[i % len(vendors)], i)
            async with session.post(f"{base}/api/orders", json=body, headers=headers) as r:
                assert r.status == 201, await r.text()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        started = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        created = time.monotonic()
        delivered = await _wait_for(agent, n)
    print(f"throughput ({n} orders, {len(vendors)} vendors, {clients} HTTP clients):")
    print(f"  created   {n / (created - started):8.1f} orders/s  ({created - started:.2f} s)")
    print(
        f"  delivered {n / (delivered - started):8.1f} orders/s end to end  "
        f"({delivered - started:.2f} s, first request → last order at the agent)"
    )


async def _latency(
    app: web.Application, settings: Settings, agent: AgentServer, vendors: list[str], n: int
) -> None:
    pool, queue_app = app[POOL], app[QUEUE_APP]
    actor = Actor("key:bench", None)
    samples = []
    for i in range(n):
        request = CreateOrder.model_validate(_body(vendors[i % len(vendors)], i))
        before = len(agent.received)
        async with transaction(pool) as conn:
            catalog = await orders._checked_catalog(conn, request)
            await orders._insert_order_and_job(
                conn, queue_app, settings, actor, request, catalog, None, secrets.token_hex(32)
            )
        committed = time.monotonic()
        received = await _wait_for(agent, before + 1, within=30)
        samples.append(received - committed)
        await asyncio.sleep(0.02)  # the worker is idle again before the next order
    ms = [s * 1000 for s in samples]
    print(f"latency commit → agent received, idle worker ({n} orders, one at a time):")
    print(
        f"  p50 {percentile(ms, 0.5):7.2f} ms  p99 {percentile(ms, 0.99):7.2f} ms  "
        f"mean {statistics.fmean(ms):7.2f} ms  max {max(ms):7.2f} ms"
    )


async def _backlog(app: web.Application, settings: Settings, vendors: list[str], n: int) -> None:
    """Orders queued before any worker runs (the service's transaction, in process)."""
    actor = Actor("key:bench", None)
    for i in range(n):
        request = CreateOrder.model_validate(_body(vendors[i % len(vendors)], i))
        await orders.create_order(app[POOL], app[QUEUE_APP], settings, actor, request, None)


async def _run(url: str, args: argparse.Namespace) -> None:
    agent = AgentServer(SimulatedErp(prefix="ERP-BENCH"), lambda: SECRET)
    agent_url = await agent.start()
    vendors = [f"bench-vendor-{i:04d}" for i in range(args.vendors)]
    _seed(url, agent_url, vendors)
    settings = load_settings(
        DATABASE_URL=url, API_SECRET=API_SECRET, RATE_LIMITS_ENABLED=False, LOG_LEVEL="WARNING"
    )
    async with serving(settings) as (app, base):
        await _run_served(app, base, url, settings, agent, vendors, args)
    await agent.stop()


async def _run_served(
    app: web.Application,
    base: str,
    url: str,
    settings: Settings,
    agent: AgentServer,
    vendors: list[str],
    args: argparse.Namespace,
) -> None:
    await _backlog(app, settings, vendors, args.backlog)
    worker = _worker(url, args.poll)
    try:
        delivered = await _wait_for(agent, args.backlog)
        first = min(call.at for call in agent.received)
        print(f"drain: a backlog of {args.backlog} orders queued before the worker started:")
        print(
            f"  delivered {(args.backlog - 1) / (delivered - first):8.1f} orders/s  "
            f"({delivered - first:.2f} s, first to last order at the agent)"
        )
        agent.received.clear()
        await _throughput(base, agent, vendors, args.orders, args.clients)
        agent.received.clear()
        await asyncio.sleep(1)
        await _latency(app, settings, agent, vendors, args.latency_orders)
    finally:
        worker.terminate()
        worker.wait(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--vendors", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--latency-orders", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=1.0, help="WORKER_POLL_SECONDS")
    args = parser.parse_args()

    with bench_database() as url:
        print(f"machine: {machine()}, worker --concurrency 5, WORKER_POLL_SECONDS {args.poll}")
        await _run(url, args)


if __name__ == "__main__":
    asyncio.run(main())
