"""Paginated lists: `?page=1&limit=50` (max 100) → `{data, meta}`."""

from __future__ import annotations

import math
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from restosync.models.base import WireModel

Item = TypeVar("Item", bound=BaseModel)

MAX_LIMIT = 100


class PageQuery(WireModel):
    """Which page of a list to return."""

    page: int = Field(default=1, ge=1, le=1_000_000)
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.page - 1) * self.limit


class PageMeta(WireModel):
    """Where this page sits in the whole list."""

    page: int
    limit: int
    total: int
    total_pages: int

    @classmethod
    def of(cls, query: PageQuery, total: int) -> PageMeta:
        """Meta for `query` over `total` rows."""
        return cls(
            page=query.page,
            limit=query.limit,
            total=total,
            total_pages=math.ceil(total / query.limit) if total else 0,
        )


class Page(WireModel, Generic[Item]):
    """One page of a list."""

    data: list[Item]
    meta: PageMeta
