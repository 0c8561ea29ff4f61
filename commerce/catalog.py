"""The tenant's product catalogue as records: read one, list them by sku, and upsert many at once.

A product is keyed by its sku. An upsert sets the name and the price, and the stock on hand unless the caller
keeps it (`on_hand=None`), which leaves an existing product's stock as it was and gives a new one none; what
open orders have reserved is never written here. Stock on hand may not drop below what is reserved
(`ck_products_stock`), so `reserved_stock` reads, and locks, the current reservations for the caller to check
each row against before it upserts, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

_COLUMNS = "sku, name, price_cents, on_hand, reserved"
# The ON CONFLICT clause cannot see a per-row flag, so rows that keep their stock go in a statement of their own.
_INSERT = (
    "INSERT INTO products (tenant_id, sku, name, price_cents, on_hand)"
    " SELECT :tid, u.sku, u.name, u.price_cents, u.on_hand FROM unnest("
    "CAST(:skus AS text[]), CAST(:names AS text[]), CAST(:prices AS integer[]), CAST(:stock AS integer[])"
    ") AS u(sku, name, price_cents, on_hand)"
    " ON CONFLICT (tenant_id, sku) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents"
)
_RETURNING = " RETURNING sku, name, price_cents, on_hand, reserved, (xmax = 0) AS inserted"
_UPSERTS = {
    False: _INSERT + ", on_hand = EXCLUDED.on_hand" + _RETURNING,
    True: _INSERT + _RETURNING,
}


@dataclass(frozen=True)
class ProductRecord:
    sku: str
    name: str
    price_cents: int
    on_hand: int
    reserved: int


@dataclass(frozen=True)
class ProductUpsert:
    sku: str
    name: str
    price_cents: int
    on_hand: int | None = None


@dataclass(frozen=True)
class ProductUpserts:
    created: int
    updated: int
    # In the order the upserts were given.
    records: list[ProductRecord]


def _record(row: Any) -> ProductRecord:
    return ProductRecord(
        sku=row.sku, name=row.name, price_cents=row.price_cents, on_hand=row.on_hand, reserved=row.reserved
    )


async def find_product(session: AsyncSession, sku: str) -> ProductRecord | None:
    row = (await run_sql(session, f"SELECT {_COLUMNS} FROM products WHERE sku = :sku", {"sku": sku})).first()  # noqa: S608
    return None if row is None else _record(row)


async def list_products(session: AsyncSession, *, after: str | None, limit: int) -> list[ProductRecord]:
    """By sku, after the sku `after` when given."""
    rows = await run_sql(
        session,
        f"SELECT {_COLUMNS} FROM products WHERE (CAST(:after AS text) IS NULL OR sku > :after)"  # noqa: S608
        " ORDER BY sku LIMIT :limit",
        {"after": after, "limit": limit},
    )
    return [_record(row) for row in rows]


async def reserved_stock(session: AsyncSession, skus: Iterable[str]) -> dict[str, int]:
    """What open orders hold of each existing product among `skus`, locked until the transaction ends."""
    rows = await run_sql(
        session,
        "SELECT sku, reserved FROM products WHERE sku = ANY(CAST(:skus AS text[])) ORDER BY sku FOR UPDATE",
        {"skus": list(skus)},
    )
    return {row.sku: int(row.reserved) for row in rows}


async def upsert_products(session: AsyncSession, tenant_id: str, upserts: Sequence[ProductUpsert]) -> ProductUpserts:
    """Create or update each product by sku; the skus must be distinct (one statement may not touch a row twice)."""
    skus = [upsert.sku for upsert in upserts]
    if len(set(skus)) != len(skus):
        raise ValueError("each sku may appear once per upsert")
    found: dict[str, tuple[ProductRecord, bool]] = {}
    for keep, statement in _UPSERTS.items():
        part = [upsert for upsert in upserts if (upsert.on_hand is None) == keep]
        if not part:
            continue
        rows = await run_sql(
            session,
            statement,
            {
                "tid": tenant_id,
                "skus": [upsert.sku for upsert in part],
                "names": [upsert.name for upsert in part],
                "prices": [upsert.price_cents for upsert in part],
                "stock": [upsert.on_hand or 0 for upsert in part],
            },
        )
        for row in rows:
            found[row.sku] = (_record(row), bool(row.inserted))
    created = sum(1 for _, inserted in found.values() if inserted)
    return ProductUpserts(created=created, updated=len(found) - created, records=[found[s][0] for s in skus])
