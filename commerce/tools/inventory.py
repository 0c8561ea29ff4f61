"""`inventory.check`: price and availability of products, by sku or by a words-in-the-name search."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from agents.sdk import ToolContext, tool
from commerce.tools.common import LINE, READ_RETRY, READ_TIMEOUT_SECONDS, Args, Out
from contracts.agents import Effect
from db.database import run_sql

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_RESULTS = 20


class CheckInventoryArgs(Args):
    sku: str | None = Field(default=None, pattern=SKU_PATTERN, description="an exact sku, e.g. SKU-MUG")
    query: str | None = Field(
        default=None, min_length=2, max_length=100, pattern=LINE, description="words from the product's name"
    )
    limit: int = Field(default=5, ge=1, le=MAX_RESULTS)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.sku is None) == (self.query is None):
            raise ValueError("give either sku or query")
        return self


class ProductOut(Out):
    sku: str
    name: str
    price_cents: int
    available: int = Field(description="units that can be ordered now (on hand minus reserved)")
    in_stock: bool


class InventoryOut(Out):
    products: list[ProductOut]


def _like(text: str) -> str:
    # The search is a substring match on the name: the user's % and _ are literal characters.
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@tool(
    "inventory.check",
    description=(
        "Check price and availability of products, either by exact sku or by words from the product name. "
        "Prices are in cents. An empty list means no product matched."
    ),
    effect=Effect.READ,
    timeout_seconds=READ_TIMEOUT_SECONDS,
    retry=READ_RETRY,
)
async def check_inventory(ctx: ToolContext, args: CheckInventoryArgs) -> InventoryOut:
    async with ctx.session() as session:
        if args.sku is not None:
            rows = await run_sql(
                session,
                "SELECT sku, name, price_cents, on_hand - reserved AS available FROM products "
                "WHERE sku IN (CAST(:sku AS text), upper(CAST(:sku AS text))) "
                "ORDER BY sku = CAST(:sku AS text) DESC LIMIT 1",
                {"sku": args.sku},
            )
        else:
            rows = await run_sql(
                session,
                "SELECT sku, name, price_cents, on_hand - reserved AS available FROM products "
                "WHERE name ILIKE :pattern ESCAPE '\\' OR sku ILIKE :pattern ESCAPE '\\' "
                "ORDER BY name, sku LIMIT :limit",
                {"pattern": _like((args.query or "").strip()), "limit": args.limit},
            )
        products = [
            ProductOut(
                sku=r.sku,
                name=r.name,
                price_cents=int(r.price_cents),
                available=max(0, int(r.available)),
                in_stock=int(r.available) > 0,
            )
            for r in rows
        ]
    return InventoryOut(products=products)
