"""Property: whatever the catalogs and the drift, one run makes Postgres match the ERP."""

from __future__ import annotations

import itertools

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restosync.agent.catalog import Catalog
from restosync.db.pool import Pool
from restosync.services.reconciliation_compare import Tuning
from restosync.settings import Settings
from tests.ingest import Conn
from tests.reconciliation import erp_side, postgres_side, vendor_with_catalog

# Byte-order traps: ASCII upper < '|' < lower < '~' < 2-byte < 3-byte UTF-8; no 'W'/'H',
# so no stock key can read as another sku's (every warehouse id is WH-nn).
SKUS = st.text(alphabet="aBé|-0~Z日", min_size=1, max_size=4)
DRIFT = st.lists(
    st.tuples(
        st.sampled_from(["change", "remove", "add", "stock", "unstock"]),
        st.integers(0, 10_000),
        SKUS,
    ),
    max_size=10,
)
TUNINGS = st.builds(
    Tuning,
    leaf_rows=st.integers(1, 4),
    fanout=st.integers(2, 4),
    fetch_batch=st.integers(1, 4),
    apply_batch=st.integers(1, 4),
)
_vendors = itertools.count()


def _drift(catalog: Catalog, ops: list[tuple[str, int, str]]) -> None:
    """Apply drift to the ERP behind the service's back."""
    for op, n, sku in ops:
        items, stock = sorted(catalog.items), sorted(catalog.stock)
        if op == "add" and sku not in catalog.items:
            catalog.add_item(sku, seed=n)
        elif op == "change" and items:
            catalog.change_item(items[n % len(items)], name=f"changed {n}")
        elif op == "remove" and items:
            catalog.remove_item(items[n % len(items)])
        elif op == "stock" and stock:
            catalog.set_stock(stock[n % len(stock)], real=n % 97, reserved=n % 3)
        elif op == "unstock" and stock:
            catalog.remove_stock(stock[n % len(stock)])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(skus=st.lists(SKUS, max_size=12, unique=True), ops=DRIFT, loaded=st.booleans(),
       tuning=TUNINGS)  # fmt: skip
async def test_one_run_converges_to_the_erp_and_the_next_finds_nothing(
    db: Conn,
    pool: Pool,
    http_session: aiohttp.ClientSession,
    settings: Settings,
    skus: list[str],
    ops: list[tuple[str, int, str]],
    loaded: bool,
    tuning: Tuning,
) -> None:
    catalog = Catalog.generate(0, warehouses=2)
    for n, sku in enumerate(skus):
        catalog.add_item(sku, seed=n)
    vendor_id = f"prop-{next(_vendors)}"
    async with vendor_with_catalog(db, pool, http_session, settings, catalog, vendor_id) as vendor:
        await vendor.load(("warehouses", "items", "stock") if loaded else ("warehouses",))
        _drift(catalog, ops)

        first = await vendor.reconcile(tuning)

        assert not first.failed
        for entity in ("items", "stock"):
            assert await postgres_side(db, vendor_id, entity) == erp_side(catalog, entity)
        second = await vendor.reconcile(tuning)
        assert [e.event_type for e in second.entities] == ["full_checksum", "full_checksum"]
        assert second.agent_calls == 2
