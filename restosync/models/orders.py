"""Marketplace orders (SPEC §3.2), their push to the ERP and the agents' callbacks.

Money, quantities and rates are `Decimal`: they are read from JSON numbers or strings
and written as JSON strings ("12.50"), so no amount ever passes through a float.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from restosync.models.agents import VendorId
from restosync.models.base import WireModel, examples

MAX_ORDER_LINES = 500

OrderStatus = Literal["pending", "synced", "failed", "cancelled"]
SyncJobStatus = Literal["pending", "processing", "awaiting_callback", "completed", "failed", "dead"]


Short = Annotated[str, StringConstraints(max_length=100, strip_whitespace=True)]
Code = Annotated[str, StringConstraints(max_length=50, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(max_length=255, strip_whitespace=True)]
Notes = Annotated[str, StringConstraints(max_length=4000, strip_whitespace=True)]
Required = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
# At most 15 digits, 4 after the point: what a price list or an ERP line holds. A float
# artefact such as 0.30000000000000004 is refused rather than silently rounded.
Quantity = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=4)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=4)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]


class Address(WireModel):
    """A billing or shipping address (PII: never logged)."""

    name: Name | None = None
    company: Name | None = None
    address1: Required
    address2: Name | None = None
    city: Required
    zip_code: Annotated[str, StringConstraints(min_length=1, max_length=20, strip_whitespace=True)]
    state: Name | None = None
    country: Annotated[str, StringConstraints(min_length=2, max_length=50, strip_whitespace=True)]
    phone: Code | None = None
    email: Name | None = None


class OrderLineIn(WireModel):
    """One line of a new order."""

    sku: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    quantity: Quantity
    unit_price: Amount
    vat_rate: Percent | None = Field(
        default=None, description="Percent (20 = 20 %); the item's VAT rate when absent."
    )
    discount_rate: Percent | None = Field(default=None, description="Percent off the line.")
    unit_code: Code | None = Field(default=None, description="The item's unit when absent.")
    description: Notes | None = None


class CreateOrder(WireModel):
    """A new marketplace order for one vendor."""

    model_config = examples(
        {
            "vendorId": "vendor-1",
            "customerId": "restaurant-42",
            "customerEmail": "chef@bistro.example",
            "shippingAddress": {
                "name": "Bistro du Port",
                "address1": "3 quai de la Fosse",
                "city": "Nantes",
                "zipCode": "44000",
                "country": "FR",
            },
            "deliveryDate": "2026-12-03",
            "items": [
                {"sku": "SKU-0000001", "quantity": "6", "unitPrice": "4.20", "vatRate": "5.5"},
                {"sku": "SKU-0000002", "quantity": "1", "unitPrice": "18.90", "vatRate": "20"},
            ],
        }
    )

    vendor_id: VendorId
    order_number: Short | None = Field(
        default=None, description="Unique order number; generated when absent."
    )
    customer_id: Short | None = None
    customer_email: Name | None = None
    customer_phone: Code | None = None
    erp_customer_code: Code | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    warehouse_id: Short | None = Field(default=None, description="ERP warehouse id.")
    delivery_date: date | None = None
    customer_notes: Notes | None = None
    internal_notes: Notes | None = None
    items: list[OrderLineIn] = Field(min_length=1, max_length=MAX_ORDER_LINES)


class OrderLine(WireModel):
    """A priced order line, as stored and as sent to the agent."""

    line_number: int
    sku: str
    description: str | None
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    discount_rate: Decimal
    unit_code: str | None
    line_subtotal: Decimal = Field(description="After discount, excluding VAT.")
    line_vat: Decimal
    line_total: Decimal


class OrderData(WireModel):
    """The full order as the agent receives it in `orderData`."""

    id: UUID
    order_number: str
    vendor_id: str
    currency: str
    customer_id: str | None
    customer_email: str | None
    customer_phone: str | None
    erp_customer_code: str | None
    billing_address: Address | None
    shipping_address: Address | None
    warehouse_id: str | None
    delivery_date: date | None
    customer_notes: str | None
    internal_notes: str | None
    subtotal: Decimal
    vat_total: Decimal
    total: Decimal
    items: list[OrderLine]


class SyncJobState(WireModel):
    """Where the push of an order to the ERP stands."""

    id: UUID = Field(description="Sync job id: the Idempotency-Key sent to the agent.")
    status: SyncJobStatus
    attempts: int = Field(description="Calls made to the agent.")
    max_attempts: int
    next_retry_at: datetime | None = Field(
        description="Next attempt (retry, postponement) or callback deadline."
    )
    error_message: str | None
    erp_reference: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class OrderView(WireModel):
    """An order with its lines and ERP sync state."""

    id: UUID
    order_number: str
    vendor_id: str
    status: OrderStatus
    currency: str
    customer_id: str | None
    customer_email: str | None
    customer_phone: str | None
    erp_customer_code: str | None
    billing_address: Address | None
    shipping_address: Address | None
    warehouse_id: str | None
    delivery_date: date | None
    customer_notes: str | None
    internal_notes: str | None
    subtotal: Decimal
    vat_total: Decimal
    total: Decimal
    erp_reference: str | None
    erp_status: str | None
    erp_synced_at: datetime | None
    erp_sync_error: str | None
    correlation_id: str | None
    created_at: datetime
    updated_at: datetime
    items: list[OrderLine]
    sync_job: SyncJobState | None


class OrderSummary(WireModel):
    """An order in a list (no lines, no customer data)."""

    id: UUID
    order_number: str
    vendor_id: str
    status: OrderStatus
    currency: str
    subtotal: Decimal
    vat_total: Decimal
    total: Decimal
    erp_reference: str | None
    erp_status: str | None
    erp_synced_at: datetime | None
    sync_status: SyncJobStatus | None
    created_at: datetime


class OrderFilter(WireModel):
    """Filters of the order list."""

    vendor_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    status: OrderStatus | None = None


class AgentCallback(WireModel):
    """The agent's word on an order it answered 202 for."""

    model_config = examples(
        {
            "jobId": "0b6f3c52-8a39-4c0e-9d3c-1d2f0a7e9b11",
            "status": "completed",
            "erpReference": "SO-1042",
            "metadata": {"erpStatus": "confirmed"},
        },
        {
            "jobId": "0b6f3c52-8a39-4c0e-9d3c-1d2f0a7e9b11",
            "status": "failed",
            "error": "customer account blocked",
        },
    )

    job_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] = Field(
        description="The syncJobId the agent received (also its Idempotency-Key)."
    )
    status: Literal["completed", "failed"]
    erp_reference: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="Required when status is completed."
    )
    error: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        default=None, description="Why the ERP refused the order, when status is failed."
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="Free-form; `erpStatus` (a string) is kept on the order."
    )

    @model_validator(mode="after")
    def _reference_when_completed(self) -> AgentCallback:
        if self.status == "completed" and self.erp_reference is None:
            raise ValueError("erpReference is required when status is completed")
        return self


class CallbackAck(WireModel):
    """What restosync made of a callback."""

    job_id: UUID
    status: SyncJobStatus = Field(description="The sync job's status after the callback.")
    duplicate: bool = Field(description="True when the callback repeated a known outcome.")
