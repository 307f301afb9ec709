"""RFC 9457 problem documents."""

from __future__ import annotations

from pydantic import Field

from restosync.models.base import WireModel


class ProblemFieldError(WireModel):
    """Where a validation error is and what it says."""

    loc: list[str | int] = Field(description="Path of keys and indexes to the bad value.")
    msg: str


class Problem(WireModel):
    """An error response (`application/problem+json`)."""

    type: str = Field(default="about:blank", description="URI identifying the problem type.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable error code.")
    correlation_id: str | None = Field(default=None, description="Echo of X-Correlation-ID.")
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="Field errors, for validation failures."
    )
