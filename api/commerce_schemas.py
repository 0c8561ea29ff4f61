"""Request and response bodies of the tenant's own commerce data: customers and the product catalogue.

The same input models validate a JSON body and each record of a CSV import, so both refuse the same values the
same way. Text may not hold control characters (Postgres text cannot hold NUL, and a name is shown to agents
and people alike); amounts and stock are whole numbers that fit the schema's integer columns.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from commerce.catalog import ProductRecord
from commerce.customer_store import CustomerRecord

_TEXT = r"^[^\x00-\x1f\x7f]+$"
# Deliberately loose: one @, something on each side, a dot in the domain, no spaces or control characters.
EMAIL = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
SKU = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_INT4 = 2_147_483_647


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(_Strict):
    """A customer to create or update, found by email. Leave `phone` out to keep the one on record."""

    email: str = Field(max_length=254, pattern=EMAIL, description="the customer's key; stored lowercased")
    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    phone: str | None = Field(
        default=None, min_length=1, max_length=40, pattern=_TEXT, description="null clears it; absent keeps it"
    )

    @field_validator("email")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        return value.lower()


class CustomerOut(BaseModel):
    id: str
    email: str
    name: str
    phone: str | None
    created_at: datetime

    @classmethod
    def of(cls, record: CustomerRecord) -> CustomerOut:
        return cls.model_validate(record, from_attributes=True)


class CustomerBatchOut(BaseModel):
    created: int
    updated: int
    items: list[CustomerOut] = Field(description="the customers as stored, in the order they were sent")


class ProductIn(_Strict):
    """A product to create or update, found by sku. Leave `on_hand` out to keep the stock on record."""

    sku: str = Field(pattern=SKU, description="the product's key")
    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    price_cents: int = Field(ge=0, le=MAX_INT4, description="the unit price in cents")
    on_hand: int | None = Field(default=None, ge=0, le=MAX_INT4, description="units in stock; absent keeps them")

    @field_validator("price_cents", "on_hand", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        # `15.00` in a price_cents column is most likely dollars; refuse it rather than read fifteen cents.
        if isinstance(value, float) or (isinstance(value, str) and not value.lstrip("-").isdigit()):
            raise ValueError("must be a whole number, in cents for prices (1500 for 15.00)")
        return value


class ProductOut(BaseModel):
    sku: str
    name: str
    price_cents: int
    on_hand: int
    reserved: int = Field(description="units held for orders not yet shipped")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @classmethod
    def of(cls, record: ProductRecord) -> ProductOut:
        return cls.model_validate(record, from_attributes=True)
