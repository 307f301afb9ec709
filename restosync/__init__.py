"""restosync: keeps vendors' ERPs and the RestoMarket marketplace in sync through PostgreSQL."""

from __future__ import annotations

__version__ = "0.1.0"
