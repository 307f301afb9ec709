"""Bounded load (issue 7): 50 enrolled agents push items and stock while 5 vendors receive
orders, against a real `restosync serve` process and two real worker processes.

Zero errors (every answer 2xx), zero deadlocks, every row and order accounted for, every
order delivered once per idempotency key, and memory that does not run away: the RSS of
each process is printed at warm-up, midway and at the end; the only assertion on it is a
generous bound against a leak. No timing is asserted (throughput is bench/'s business).
RESTOSYNC_LOAD_SECONDS lengthens the run (default 20 s).
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import ClientTimeout

from restosync.agent.client import AgentClient
from restosync.agent.credentials import AgentCredentials
from tests.agents import ADMIN, agent_headers
from tests.conftest import AGENT_SECRET, API_SECRET
from tests.ingest import JSON, MAPPINGS, item, stock, warehouse
from tests.orders import WORKER_ENV, Conn, add_items, order_body
from tests.processes import BIN, process_env, running_worker, stop
from tests.reference_agents import RunningAgent, enrolled_agent, eventually

pytestmark = pytest.mark.slow

LOAD_SECONDS = float(os.environ.get("RESTOSYNC_LOAD_SECONDS", "20"))
PUSHING_AGENTS = 50
ORDER_VENDORS = 5  # the first five of the fifty also receive orders
ROWS_PER_PUSH = 20
TIMEOUT = ClientTimeout(total=60)  # an answer slower than this counts as an error
LEAK_FACTOR = 2.0


@dataclass
class Tally:
    """What the load was told: acknowledged rows and orders, and every non-2xx."""

    items: dict[str, set[str]] = field(default_factory=dict)  # vendor -> skus
    stock: dict[str, int] = field(default_factory=dict)  # vendor -> stock rows
    orders: dict[str, str] = field(default_factory=dict)  # idempotency key -> order id
    requests: int = 0
    errors: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def restosync_serve(database_url: str, folder: Path) -> Iterator[tuple[str, int]]:
    """`restosync serve` on a free port; (base URL, pid)."""
    port = _free_port()
    with (folder / "serve.out").open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "restosync"), "serve"],
            env=process_env(
                DATABASE_URL=database_url,
                API_SECRET=API_SECRET,
                AGENT_SECRET=AGENT_SECRET,
                PORT=str(port),
                RATE_LIMITS_ENABLED="false",
                AGENT_TOKEN_BCRYPT_ROUNDS="10",
                LOG_LEVEL="WARNING",
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}/", process.pid
        finally:
            assert stop(process) == 0
            assert "Traceback" not in (folder / "serve.out").read_text()


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def _ready(session: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with session.get(f"{base}health", timeout=ClientTimeout(total=5)) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _post(
    session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str], tally: Tally
) -> dict[str, Any] | None:
    """POST; the answer when 2xx, else None with the error recorded."""
    tally.requests += 1
    try:
        async with session.post(
            url, data=io.BytesIO(orjson.dumps(body)), headers={**headers, **JSON}, timeout=TIMEOUT
        ) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
            if 200 <= response.status < 300:
                return answer
            tally.errors.append(f"{url}: {response.status} {answer}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.errors.append(f"{url}: {type(exc).__name__}")
    return None


async def _push(
    session: aiohttp.ClientSession,
    base: str,
    credentials: tuple[str, str],
    entity: str,
    rows: list[Any],
    tally: Tally,
) -> bool:
    vendor_id, token = credentials
    body = {"vendorId": vendor_id, entity: rows}
    answer = await _post(
        session, f"{base}api/sync/{entity}", body, agent_headers(vendor_id, token), tally
    )
    if answer is None:
        return False
    if answer["processed"] != len(rows):
        tally.errors.append(f"{entity} of {vendor_id}: not all processed: {answer}")
        return False
    return True


async def _agent_loop(
    session: aiohttp.ClientSession,
    base: str,
    credentials: tuple[str, str],
    until: float,
    tally: Tally,
) -> None:
    """An agent: new items, then their stock, over and over."""
    vendor_id, _ = credentials
    skus = tally.items.setdefault(vendor_id, set())
    tally.stock.setdefault(vendor_id, 0)
    if not await _push(session, base, credentials, "warehouses", [warehouse("W1")], tally):
        return
    batch = 0
    while asyncio.get_running_loop().time() < until:
        new = [f"L{batch}-{n}" for n in range(ROWS_PER_PUSH)]
        if await _push(session, base, credentials, "items", [item(s) for s in new], tally):
            skus.update(new)
            rows = [stock(s, "W1", real=5 + n) for n, s in enumerate(new)]
            if await _push(session, base, credentials, "stock", rows, tally):
                tally.stock[vendor_id] += len(rows)
        batch += 1
        await asyncio.sleep(0.2)


async def _order_loop(
    session: aiohttp.ClientSession, base: str, vendor_id: str, until: float, tally: Tally
) -> None:
    """A marketplace client ordering from one vendor, each order with its own key."""
    while asyncio.get_running_loop().time() < until:
        key = f"load-{uuid.uuid4()}"
        headers = {**ADMIN, "Idempotency-Key": key}
        answer = await _post(session, f"{base}api/orders", order_body(vendor_id), headers, tally)
        if answer is not None:
            tally.orders[key] = answer["id"]
        await asyncio.sleep(0.1)


async def _enrol(session: aiohttp.ClientSession, base: str, vendor_id: str, folder: Path) -> str:
    """A pushing-only agent enrolled with the reference client; its token."""
    path = folder / f"{vendor_id}.json"
    client = AgentClient(session, base, vendor_id, path, version="load")
    await client.enrol(AGENT_SECRET, "http://127.0.0.1:9/agent", "sage")
    return AgentCredentials.load(path).token


async def _seed_mappings(db: Conn, vendors: list[str]) -> None:
    """The item builder's mappings for every vendor, in one statement."""
    rows = [(v, *mapping) for v in vendors for mapping in MAPPINGS]
    await db.execute(
        "INSERT INTO erp_code_mappings "
        "(vendor_id, mapping_type, erp_code, resto_code, resto_label, vat_rate) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
        "%s::numeric[])",
        [list(column) for column in zip(*rows, strict=True)],
    )


async def _deadlocks(db: Conn) -> int:
    cur = await db.execute(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["deadlocks"])


async def _all_synced(db: Conn, expected: int) -> bool:
    cur = await db.execute("SELECT count(*) AS n FROM sync_jobs WHERE status = 'completed'")
    row = await cur.fetchone()
    return bool(row and row["n"] >= expected)


@asynccontextmanager
async def _order_agents(
    session: aiohttp.ClientSession, base: str, vendors: list[str], folder: Path
) -> AsyncIterator[list[RunningAgent]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(enrolled_agent(session, base, v, folder))
            for v in vendors
        ]


def _sample(label: str, pids: dict[str, int], samples: dict[str, dict[str, int]]) -> None:
    samples[label] = {name: rss_kib(pid) for name, pid in pids.items()}
    print(
        f"RSS {label}: "
        + ", ".join(f"{n} {kib / 1024:.1f} MiB" for n, kib in samples[label].items())
    )


async def test_fifty_agents_and_five_order_vendors_under_load_account_for_everything(
    database_url: str, db: Conn, http_session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    vendors = [f"v-load-{n:02d}" for n in range(PUSHING_AGENTS)]
    order_vendors = vendors[:ORDER_VENDORS]
    await _seed_mappings(db, vendors)
    deadlocks_before = await _deadlocks(db)
    tally = Tally()
    samples: dict[str, dict[str, int]] = {}
    with ExitStack() as processes:
        base, web_pid = processes.enter_context(restosync_serve(database_url, tmp_path))
        workers = [
            processes.enter_context(
                running_worker(database_url, queues="order-sync,maintenance", env=WORKER_ENV)
            )
            for _ in range(2)
        ]
        pids = {"web": web_pid, **{f"worker-{n}": w.pid for n, w in enumerate(workers)}}
        assert await eventually(lambda: _ready(http_session, base), within=30)
        async with _order_agents(http_session, base, order_vendors, tmp_path) as agents:
            for vendor in order_vendors:
                await add_items(db, vendor, ["SKU-1"])
            tokens = [agent.token or "" for agent in agents]
            tokens += await asyncio.gather(
                *(_enrol(http_session, base, v, tmp_path) for v in vendors[ORDER_VENDORS:])
            )
            _sample("before load", pids, samples)

            loop = asyncio.get_running_loop()
            until = loop.time() + LOAD_SECONDS
            load = asyncio.gather(
                *(
                    _agent_loop(http_session, base, (v, t), until, tally)
                    for v, t in zip(vendors, tokens, strict=True)
                ),
                *(_order_loop(http_session, base, v, until, tally) for v in order_vendors),
            )
            await asyncio.sleep(LOAD_SECONDS / 4)
            _sample("after warm-up", pids, samples)
            await asyncio.sleep(LOAD_SECONDS / 4)
            _sample("midway", pids, samples)
            await load
            await eventually(lambda: _all_synced(db, len(tally.orders)), within=120, interval=0.5)
            _sample("end", pids, samples)
            await asyncio.sleep(1.5)  # backends flush their statistics at most once a second
            deadlocks_after = await _deadlocks(db)
            print(
                f"requests {tally.requests}, orders {len(tally.orders)}, items "
                f"{sum(map(len, tally.items.values()))}, stock {sum(tally.stock.values())}"
            )

    assert tally.errors == []
    assert deadlocks_after == deadlocks_before
    await _assert_rows_accounted_for(db, tally)
    await _assert_orders_delivered_once(db, tally, agents)
    for name, kib in samples["end"].items():
        assert kib < LEAK_FACTOR * samples["after warm-up"][name], (name, samples)


async def _assert_rows_accounted_for(db: Conn, tally: Tally) -> None:
    cur = await db.execute(
        "SELECT i.vendor_id, count(DISTINCT i.id) AS items, count(s.id) AS stock "
        "FROM items i LEFT JOIN stock s ON s.item_id = i.id "
        "WHERE i.vendor_id LIKE 'v-load-%%' AND i.sku <> 'SKU-1' GROUP BY i.vendor_id"
    )
    stored = {row["vendor_id"]: (row["items"], row["stock"]) for row in await cur.fetchall()}
    acked = {v: (len(skus), tally.stock[v]) for v, skus in tally.items.items() if skus}
    assert stored == acked
    assert len(acked) == PUSHING_AGENTS


async def _assert_orders_delivered_once(db: Conn, tally: Tally, agents: list[RunningAgent]) -> None:
    cur = await db.execute(
        "SELECT o.id::text AS id, o.idempotency_key, j.id::text AS job, j.status "
        "FROM orders o JOIN sync_jobs j ON j.postgres_order_id = o.id"
    )
    rows = await cur.fetchall()
    assert {row["idempotency_key"]: row["id"] for row in rows} == tally.orders
    assert len(rows) == len(tally.orders)
    assert {row["status"] for row in rows} == {"completed"}
    assert sum(len(agent.erp.orders) for agent in agents) == len(rows)
    for row in rows:
        assert sum(len(agent.erp.orders_for(row["job"])) for agent in agents) == 1
