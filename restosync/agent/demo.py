"""`restosync demo`: the reference agent and a simulated ERP against a running restosync.

Everything goes through restosync's public HTTP API, as a real agent and a real
marketplace would: enrol an agent for a fresh demo vendor, seed its ERP code mappings,
push the simulated ERP's warehouses, items and stock (full snapshots, with a progress
bar), place orders and watch them reach the ERP, change the ERP behind restosync's back
and watch reconciliation repair it, then print a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from restosync.agent.catalog import MAPPINGS, Catalog, stock_key
from restosync.agent.client import AgentClient
from restosync.agent.credentials import AgentCredentials
from restosync.agent.erp import SimulatedErp
from restosync.agent.push import CatalogPusher, PushProgress
from restosync.agent.server import AgentServer

BAR_WIDTH = 30


class DemoError(Exception):
    """The demo cannot go on (service unreachable, secrets missing, a step timed out)."""


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs against and how big its ERP is."""

    url: str
    api_secret: str
    agent_secret: str
    items: int = 2000
    warehouses: int = 3
    orders: int = 5
    timeout_seconds: float = 60.0
    vendor_id: str = field(default_factory=lambda: f"demo-{secrets.token_hex(3)}")


@dataclass
class DemoReport:
    """What the demo saw, for the closing summary (and for tests)."""

    vendor_id: str
    pushed: dict[str, int] = field(default_factory=dict)
    orders: list[tuple[str, str]] = field(default_factory=list)  # (order number, ERP ref)
    erp_orders: int = 0
    drift_injected: list[str] = field(default_factory=list)
    drift_repaired: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def secrets_from_data_dir(data_dir: Path) -> tuple[str | None, str | None]:
    """The dev secrets `restosync up` keeps in its data folder, if it ran there."""
    path = data_dir / "dev-secrets.json"
    if not path.exists():
        return None, None
    stored = json.loads(path.read_text())
    return stored.get("API_SECRET"), stored.get("AGENT_SECRET")


async def run_demo(options: DemoOptions, out: TextIO | None = None) -> DemoReport:
    """Run every step against the service at `options.url`; what happened."""
    out = out or sys.stdout
    started = time.monotonic()
    report = DemoReport(options.vendor_id)
    catalog = Catalog.generate(options.items, options.warehouses, seed=7)
    erp = SimulatedErp(prefix="DEMO")
    with tempfile.TemporaryDirectory(prefix="restosync-demo-") as folder:
        path = Path(folder) / "agent.json"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            admin = _Admin(session, options)
            await admin.check_reachable()
            client = AgentClient(session, options.url, options.vendor_id, path, version="demo")
            server = AgentServer(
                erp,
                lambda: AgentCredentials.load(path).outbound_secret,
                client=client,
                catalog=catalog,
            )
            agent_url = await server.start()
            stop = asyncio.Event()
            beats: asyncio.Task[int] | None = None
            try:
                _step(out, 1, f"enrol the agent of vendor {options.vendor_id} ({agent_url})")
                await client.enrol(options.agent_secret, agent_url, "custom")
                beats = asyncio.create_task(client.run_heartbeats(5.0, stop))
                _step(out, 2, f"seed {len(MAPPINGS)} ERP code mappings")
                await admin.seed_mappings(options.vendor_id)
                _step(out, 3, "push the ERP's master data (full snapshots)")
                await _push(client, catalog, report, out)
                _step(out, 4, f"place {options.orders} orders and watch them reach the ERP")
                await _place_orders(admin, catalog, options, report, out)
                report.erp_orders = len(erp.orders)
                _step(out, 5, "change the ERP behind restosync's back, then reconcile")
                report.drift_injected = _inject_drift(catalog)
                for line in report.drift_injected:
                    print(f"    {line}", file=out)
                report.drift_repaired = await _reconcile(admin, options, out)
            finally:
                stop.set()
                await server.stop()
                if beats is not None:
                    await beats
    report.seconds = time.monotonic() - started
    _summary(report, out)
    return report


class _Admin:
    """The marketplace/admin side of the demo (X-API-Key)."""

    def __init__(self, session: aiohttp.ClientSession, options: DemoOptions) -> None:
        self._session = session
        self._base = options.url.rstrip("/")
        self._headers = {"X-API-Key": options.api_secret}
        self.timeout = options.timeout_seconds

    async def check_reachable(self) -> None:
        try:
            async with self._session.get(f"{self._base}/health/live") as response:
                if response.status != 200:
                    raise DemoError(f"{self._base} answered {response.status} to /health/live")
        except aiohttp.ClientError as exc:
            raise DemoError(
                f"restosync is not reachable at {self._base} ({exc.__class__.__name__}); "
                "start it with `restosync up` first"
            ) from None

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        async with self._session.request(
            method, f"{self._base}{path}", headers=headers, **kwargs
        ) as response:
            body = await response.json(content_type=None)
            if response.status == 401:
                raise DemoError("the API key was refused: set API_SECRET to the service's")
            if response.status >= 400:
                raise DemoError(f"{method} {path} answered {response.status}: {body}")
            return body

    async def seed_mappings(self, vendor_id: str) -> None:
        mappings = [
            {
                "vendorId": vendor_id,
                "mappingType": kind,
                "erpCode": code,
                "restoCode": resto,
                "restoLabel": label,
                **({"vatRate": rate} if rate is not None else {}),
            }
            for kind, code, resto, label, rate in MAPPINGS
        ]
        await self.call("POST", "/api/admin/mappings/seed", json={"mappings": mappings})

    async def until(self, what: str, check: Callable[[], Awaitable[Any]]) -> Any:
        """Poll `check` until it returns something truthy, at most `timeout` seconds."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.2)
        raise DemoError(f"gave up waiting for {what} after {self.timeout:g} s")


async def _push(client: AgentClient, catalog: Catalog, report: DemoReport, out: TextIO) -> None:
    def progress(p: PushProgress) -> None:
        done = BAR_WIDTH * p.rows_sent // max(p.rows_total, 1)
        bar = "#" * done + "." * (BAR_WIDTH - done)
        print(f"\r    {p.entity:<10} [{bar}] {p.rows_sent}/{p.rows_total}", end="", file=out)
        if p.rows_sent >= p.rows_total:
            print(file=out)

    summary = await CatalogPusher(client, on_progress=progress).push_snapshot(catalog)
    for entity in ("warehouses", "items", "stock"):
        report.pushed[entity] = len(catalog.rows(entity))
    print(
        f"    {summary.requests} requests: {summary.processed} rows written, "
        f"{summary.skipped} unchanged, {summary.failed} refused",
        file=out,
    )
    if summary.failed:
        raise DemoError(f"{summary.failed} rows were refused: {summary.failures[:3]}")


async def _place_orders(
    admin: _Admin, catalog: Catalog, options: DemoOptions, report: DemoReport, out: TextIO
) -> None:
    skus = [row["sku"] for row in catalog.rows("items")[: options.orders * 2]]
    created = []
    for n in range(options.orders):
        body = {
            "vendorId": options.vendor_id,
            "customerId": f"restaurant-{n + 1}",
            "shippingAddress": {
                "name": f"Restaurant {n + 1}",
                "address1": f"{n + 1} place du Marché",
                "city": "Lyon",
                "zipCode": "69002",
                "country": "FR",
            },
            "items": [
                {"sku": skus[2 * n], "quantity": 3, "unitPrice": "4.20"},
                {"sku": skus[2 * n + 1], "quantity": 1, "unitPrice": "12.00"},
            ],
        }
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        created.append(await admin.call("POST", "/api/orders", json=body, headers=headers))
    for order in created:

        async def synced(order_id: str = order["id"]) -> Any:
            current = await admin.call("GET", f"/api/orders/{order_id}")
            return current if current.get("erpReference") else None

        done = await admin.until(f"order {order['orderNumber']} to reach the ERP", synced)
        report.orders.append((done["orderNumber"], done["erpReference"]))
        print(
            f"    order {done['orderNumber']} ({done['total']} EUR) -> ERP {done['erpReference']}",
            file=out,
        )


def _inject_drift(catalog: Catalog) -> list[str]:
    """Change the ERP without pushing: a price, a deleted item, a new item, a stock count."""
    items = catalog.rows("items")
    changed, removed = items[10]["sku"], items[20]["sku"]
    catalog.change_item(changed, unitPrice=99.99)
    catalog.remove_item(removed)
    catalog.add_item("SKU-NEW-0001", seed=1)
    key = stock_key(items[30]["sku"], next(iter(catalog.warehouses)))
    catalog.set_stock(key, real=0, reserved=0)
    return [
        f"{changed}: price changed to 99.99",
        f"{removed}: deleted from the ERP (with its stock)",
        "SKU-NEW-0001: created in the ERP (with stock)",
        f"{key}: stock counted down to 0",
    ]


async def _reconcile(admin: _Admin, options: DemoOptions, out: TextIO) -> dict[str, Any]:
    vendor = options.vendor_id
    await admin.call("POST", "/api/admin/reconciliation/trigger", json={"vendorId": vendor})

    async def finished() -> Any:
        page = await admin.call(
            "GET", "/api/admin/reconciliation/events", params={"vendorId": vendor, "limit": 50}
        )
        ends = {e["entity"]: e for e in page["data"] if e["eventType"] != "drift_detected"}
        errors = [e for e in ends.values() if e["eventType"] == "error"]
        if errors:
            raise DemoError(f"reconciliation failed: {errors[0]['details']}")
        return ends if {"items", "stock"} <= ends.keys() else None

    ends = await admin.until("reconciliation to finish", finished)
    for entity in ("items", "stock"):
        event = ends[entity]
        summary = event["summary"]
        print(
            f"    {entity:<6} {event['eventType']}: {_drift_line(summary)} "
            f"in {event['durationMs']} ms",
            file=out,
        )
    return {entity: ends[entity]["summary"] for entity in ("items", "stock")}


def _drift_line(summary: dict[str, Any]) -> str:
    """`3 drifted (changed SKU-1; missing in Postgres SKU-9), 41 agent calls`."""
    keys = summary.get("driftedKeys", {})
    kinds = [
        f"{label} {', '.join(keys[kind][:3])}"
        for kind, label in (
            ("changed", "changed"),
            ("missingInPostgres", "missing in Postgres"),
            ("missingInErp", "missing in the ERP"),
        )
        if keys.get(kind)
    ]
    detail = f" ({'; '.join(kinds)})" if kinds else ""
    return f"{_drifted(summary)} drifted{detail}, {summary.get('agentCalls', '?')} agent calls"


def _drifted(summary: dict[str, Any]) -> int:
    drifted = summary.get("drifted", {})
    return int(drifted.get("total", 0)) if isinstance(drifted, dict) else 0


def _step(out: TextIO, n: int, text: str) -> None:
    print(f"\n[{n}/5] {text}", file=out)


def _summary(report: DemoReport, out: TextIO) -> None:
    repaired = sum(_drifted(summary) for summary in report.drift_repaired.values())
    print(
        f"""
Summary (vendor {report.vendor_id}, {report.seconds:.1f} s):
  * The agent pushed {report.pushed.get("warehouses", 0)} warehouses, \
{report.pushed.get("items", 0)} items and {report.pushed.get("stock", 0)} stock rows; \
restosync validated, mapped and stored them in PostgreSQL.
  * {len(report.orders)} marketplace orders went through the PostgreSQL queue to the agent; \
the ERP holds {report.erp_orders} orders and every order got its ERP reference back.
  * The ERP changed behind restosync's back ({len(report.drift_injected)} changes); \
reconciliation compared checksums, found {repaired} drifted rows and made PostgreSQL \
match the ERP.
Explore: GET /api/admin/reconciliation/events?vendorId={report.vendor_id}, \
GET /api/orders?vendorId={report.vendor_id}, /metrics.""",
        file=out,
    )


def add_demo_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo` to the `restosync` command's sub-parsers."""
    demo = subparsers.add_parser(
        "demo",
        help="show restosync at work: a reference agent and a simulated ERP against a service",
        description="Against a running restosync (`restosync up` in another terminal): enrol "
        "a demo vendor's agent, push a simulated ERP's master data, place orders and watch "
        "them reach the ERP, inject drift and watch reconciliation repair it. Secrets come "
        "from API_SECRET / AGENT_SECRET, else from the dev secrets `restosync up` keeps in "
        "--data-dir.",
    )
    demo.add_argument(
        "--url",
        default=os.environ.get("RESTOSYNC_URL", "http://127.0.0.1:8080"),
        help="the service (default: %(default)s; env RESTOSYNC_URL)",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("RESTOSYNC_DATA_DIR", ".restosync")),
        help="where `restosync up` keeps its dev secrets (default: %(default)s)",
    )
    demo.add_argument("--items", type=int, default=2000, help="items in the simulated ERP")
    demo.add_argument("--warehouses", type=int, default=3, help="warehouses in the ERP")
    demo.add_argument("--orders", type=int, default=5, help="orders to place")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each step")
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    stored_api, stored_agent = secrets_from_data_dir(args.data_dir)
    api_secret = os.environ.get("API_SECRET") or stored_api
    agent_secret = os.environ.get("AGENT_SECRET") or stored_agent
    if not api_secret or not agent_secret:
        print(
            "restosync demo: set API_SECRET and AGENT_SECRET, or run it next to the "
            f"`restosync up` that keeps them in {args.data_dir}/dev-secrets.json",
            file=sys.stderr,
        )
        return 2
    options = DemoOptions(
        url=args.url,
        api_secret=api_secret,
        agent_secret=agent_secret,
        items=args.items,
        warehouses=args.warehouses,
        orders=args.orders,
        timeout_seconds=args.timeout,
    )
    try:
        asyncio.run(run_demo(options))
    except DemoError as exc:
        print(f"\nrestosync demo: {exc}", file=sys.stderr)
        return 1
    return 0
