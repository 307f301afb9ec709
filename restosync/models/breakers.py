"""Circuit breakers as the admin sees and resets them (SPEC §3.3, §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from restosync.models.base import WireModel, examples


class BreakerView(WireModel):
    """The latest state a worker process reported for one (vendorId, apiType) breaker."""

    vendor_id: str
    api_type: str = Field(description="Agent API guarded, e.g. create_order.")
    state: Literal["closed", "open", "half_open"]
    failure_count: int = Field(description="Consecutive failures when it last changed.")
    opened_at: datetime | None
    updated_at: datetime


class BreakerStatus(WireModel):
    """Every breaker any worker process reported."""

    data: list[BreakerView]


class ResetBreaker(WireModel):
    """Which breakers to close in every process: one API type of a vendor, or all of them."""

    model_config = examples({"vendorId": "vendor-1", "apiType": "create_order"})

    vendor_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    api_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,49}$")] | None = None


class BreakerReset(WireModel):
    """The breakers closed in the shared view (worker processes are told to close theirs)."""

    reset: list[BreakerView]
