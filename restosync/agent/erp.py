"""The ERP behind the reference agent: an adapter interface and an in-memory simulation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ErpOrder:
    """An order as the ERP recorded it."""

    reference: str
    order_number: str | None
    idempotency_key: str
    data: dict[str, Any]


class ErpAdapter(Protocol):
    """What the agent needs of an ERP (EBP, Sage, Odoo… or the simulation)."""

    async def create_order(self, order_data: dict[str, Any], idempotency_key: str) -> ErpOrder:
        """Write the order into the ERP; its ERP reference."""
        ...


class SimulatedErp:
    """An ERP in memory, for demos and tests: records orders, hands out references in order.

    It trusts its caller to deduplicate (the agent server does, by Idempotency-Key), so
    `orders` shows exactly what reached the ERP, duplicates included.
    """

    def __init__(self, prefix: str = "ERP") -> None:
        self.prefix = prefix
        self.orders: list[ErpOrder] = []
        self._lock = asyncio.Lock()

    async def create_order(self, order_data: dict[str, Any], idempotency_key: str) -> ErpOrder:
        """Record the order under the next reference (`<prefix>-000001`, …)."""
        async with self._lock:
            number = order_data.get("orderNumber")
            order = ErpOrder(
                reference=f"{self.prefix}-{len(self.orders) + 1:06d}",
                order_number=number if isinstance(number, str) else None,
                idempotency_key=idempotency_key,
                data=order_data,
            )
            self.orders.append(order)
            return order

    def orders_for(self, idempotency_key: str) -> list[ErpOrder]:
        """Every ERP order written for one idempotency key (one, when all is well)."""
        return [order for order in self.orders if order.idempotency_key == idempotency_key]
