"""ERP code mappings (SPEC §4.3): an ERP code of a vendor → the marketplace's code."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from restosync.models.agents import VendorId
from restosync.models.base import WireModel, examples

MappingType = Literal["unit", "vat", "family", "subfamily"]
Code = Annotated[str, StringConstraints(min_length=1, max_length=50, strip_whitespace=True)]
Label = Annotated[str, StringConstraints(max_length=255)]
VatRate = Annotated[Decimal, Field(ge=0, le=100, description="Percent, for vat mappings.")]
MAX_SEED = 5000


class CreateMapping(WireModel):
    """A new mapping."""

    model_config = examples(
        {
            "vendorId": "vendor-1",
            "mappingType": "vat",
            "erpCode": "TVA20",
            "restoCode": "V20",
            "restoLabel": "Standard VAT",
            "vatRate": "20",
        }
    )

    vendor_id: VendorId
    mapping_type: MappingType
    erp_code: Code
    resto_code: Code
    resto_label: Label | None = None
    vat_rate: VatRate | None = None
    is_active: bool = True

    @model_validator(mode="after")
    def _vat_rate_for_vat_only(self) -> CreateMapping:
        if (self.mapping_type == "vat") != (self.vat_rate is not None):
            raise ValueError("vatRate is required for vat mappings and only for them")
        return self


class UpdateMapping(WireModel):
    """A change of what a mapping maps to; absent fields are left as they are."""

    model_config = examples({"restoLabel": "Standard VAT (20 %)", "isActive": True})

    resto_code: Code | None = None
    resto_label: Label | None = None
    vat_rate: VatRate | None = None
    is_active: bool | None = None


class SeedMappings(WireModel):
    """Many mappings at once (created or replaced by their vendor, type and code)."""

    model_config = examples(
        {
            "mappings": [
                {
                    "vendorId": "vendor-1",
                    "mappingType": "unit",
                    "erpCode": "PCE",
                    "restoCode": "U",
                    "restoLabel": "Unit",
                },
                {
                    "vendorId": "vendor-1",
                    "mappingType": "vat",
                    "erpCode": "TVA55",
                    "restoCode": "V55",
                    "restoLabel": "Reduced VAT",
                    "vatRate": "5.5",
                },
            ]
        }
    )

    mappings: list[CreateMapping] = Field(min_length=1, max_length=MAX_SEED)


class SeedResult(WireModel):
    """What a seed did."""

    created: int
    updated: int


class Mapping(WireModel):
    """A stored mapping."""

    id: UUID
    vendor_id: str
    mapping_type: MappingType
    erp_code: str
    resto_code: str
    resto_label: str | None
    vat_rate: Decimal | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class MappingFilter(WireModel):
    """Filters of the mapping list."""

    vendor_id: VendorId | None = None
    mapping_type: MappingType | None = None
    erp_code: Code | None = None
    is_active: bool | None = None


class GapQuery(WireModel):
    """Whose gaps to list."""

    vendor_id: VendorId


class MappingGap(WireModel):
    """An ERP code with no active mapping, and the rejected rows waiting for it."""

    mapping_type: MappingType
    erp_code: str
    blocked_rows: int
    first_seen_at: datetime
    last_seen_at: datetime


class MappingGaps(WireModel):
    """A vendor's unmapped codes, most blocking first."""

    vendor_id: str
    data: list[MappingGap]
