"""`restosync demo` end to end: web + a real worker process + the demo's own agent."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from restosync.agent.demo import DemoOptions, run_demo
from restosync.settings import Settings
from tests.conftest import AGENT_SECRET, API_SECRET
from tests.orders import WORKER_ENV, Conn, base_url
from tests.processes import BIN, process_env, running_worker

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # The demo pushes four snapshot pages in a row: more than the default 5/min budget
    # would let a second run of the demo on the same service do at once.
    return make_settings(RATE_LIMITS_ENABLED=False)


async def test_the_demo_pushes_orders_and_repairs_drift(
    client: TestClient[Any, Any], db: Conn, database_url: str
) -> None:
    options = DemoOptions(
        url=base_url(client),
        api_secret=API_SECRET,
        agent_secret=AGENT_SECRET,
        items=300,
        warehouses=2,
        orders=2,
        timeout_seconds=30,
    )
    out = io.StringIO()
    with running_worker(database_url, env=WORKER_ENV):
        report = await run_demo(options, out)

    assert report.pushed == {"warehouses": 2, "items": 300, "stock": 600}
    assert len(report.orders) == report.erp_orders == 2
    assert report.drift_repaired["items"]["drifted"]["total"] == 3
    assert report.drift_repaired["stock"]["drifted"]["total"] == 1 + 2 + 2
    cur = await db.execute(
        "SELECT sku, is_active, unit_price::text FROM items "
        "WHERE vendor_id = %s AND sku IN ('SKU-0000010', 'SKU-0000020', 'SKU-NEW-0001') "
        "ORDER BY sku",
        [report.vendor_id],
    )
    rows = [(r["sku"], r["is_active"], r["unit_price"]) for r in await cur.fetchall()]
    assert rows[0] == ("SKU-0000010", True, "99.99")
    assert rows[1][:2] == ("SKU-0000020", False)
    assert rows[2][:2] == ("SKU-NEW-0001", True)
    assert "Summary" in out.getvalue()


def test_the_demo_needs_the_secrets(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "restosync"), "demo", "--data-dir", str(tmp_path)],
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "API_SECRET" in result.stderr


def test_the_demo_reads_the_dev_secrets_of_up_and_says_when_the_service_is_down(
    tmp_path: Path,
) -> None:
    (tmp_path / "dev-secrets.json").write_text(
        json.dumps({"API_SECRET": API_SECRET, "AGENT_SECRET": AGENT_SECRET})
    )
    result = subprocess.run(
        [str(BIN / "restosync"), "demo", "--data-dir", str(tmp_path), "--url",
         "http://127.0.0.1:9"],
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "not reachable at http://127.0.0.1:9" in result.stderr
