"""Base classes for wire models: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A JSON body on the wire: camelCase keys, unknown keys ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A wire model's examples, shown in the OpenAPI document (and tried by its fuzz test)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})
