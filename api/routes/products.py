"""`/v1/products`: the tenant's product catalogue, listed by sku, read, and loaded from CSV.

`POST /import` takes a CSV file (`sku,name,price_cents[,on_hand]`), all or nothing (`api.csv_import`): each row
creates the product or updates the one with its sku. A row without `on_hand` keeps the stock on record (a new
product starts with none), so a price list updates prices without touching stock; stock may not drop below
what open orders have reserved. Reading needs `tenant:read`, loading `agents:manage` (the catalogue is what the
agents' order tools sell); every load is audited. Another tenant's products are invisible and answer 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api.commerce_schemas import SKU, ProductIn, ProductOut
from api.csv_import import ImportResult, RowErrors, parse, read_body, unique, validate
from api.deps import DatabaseDep, requires
from api.errors import ApiError
from api.media_types import CSV, body_of
from api.pagination import Page, PageDep
from commerce.catalog import ProductUpsert, find_product, list_products, reserved_stock, upsert_products
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/products", tags=["products"])

CatalogueReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
CatalogueLoader = Annotated[TenantPrincipal, requires(Permission.AGENTS_MANAGE)]
SkuPath = Annotated[str, Path(pattern=SKU, description="the product's sku")]
_CSV_EXAMPLE = "sku,name,price_cents,on_hand\nSKU-MUG,Ceramic mug,1500,40\nSKU-TEE,Logo T-shirt,2500,\n"


@router.get("", response_model=Page[ProductOut])
async def get_products(principal: CatalogueReader, db: DatabaseDep, page: PageDep) -> Page[ProductOut]:
    """The tenant's products, by sku."""
    scope = page.scope("products", principal.tenant_id)
    after = page.after(scope, str)
    async with db.tenant_session(principal.tenant_id) as session:
        records = await list_products(session, after=after[0] if after else None, limit=page.limit + 1)
    return page.of([ProductOut.of(r) for r in records], scope, key=lambda p: (p.sku,))


@router.get("/{sku}", response_model=ProductOut)
async def get_product(sku: SkuPath, principal: CatalogueReader, db: DatabaseDep) -> ProductOut:
    async with db.tenant_session(principal.tenant_id) as session:
        record = await find_product(session, sku)
    if record is None:
        raise ApiError(404, "product_not_found", "no such product")
    return ProductOut.of(record)


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra=body_of(
        CSV, "a header row `sku,name,price_cents` (and `on_hand`), then one product per row", example=_CSV_EXAMPLE
    ),
)
async def import_products(request: Request, principal: CatalogueLoader, db: DatabaseDep) -> ImportResult:
    """Create or update products by sku from a CSV file; any bad row and nothing is imported (422)."""
    errors = RowErrors()
    records = parse(await read_body(request), errors, required=("sku", "name", "price_cents"), optional=("on_hand",))
    products = validate(records, ProductIn, errors)
    unique(products, lambda p: p.sku, "sku", errors)
    errors.raise_if_any()
    if not products:
        return ImportResult(rows=0, created=0, updated=0)
    async with db.tenant_session(principal.tenant_id) as session:
        # Locked until the import commits, so no order reserves more of a product between this check and the write.
        reserved = await reserved_stock(session, [p.sku for _, p in products if p.on_hand is not None])
        for row, product in products:
            held = reserved.get(product.sku, 0)
            if product.on_hand is not None and product.on_hand < held:
                errors.add(row, "on_hand", f"below the {held} unit(s) open orders have reserved")
        errors.raise_if_any()
        outcome = await upsert_products(
            session,
            principal.tenant_id,
            [ProductUpsert(sku=p.sku, name=p.name, price_cents=p.price_cents, on_hand=p.on_hand) for _, p in products],
        )
        await record_event(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.subject,
            action="products.loaded",
            target="products",
            details={"source": "csv", "created": outcome.created, "updated": outcome.updated},
        )
    return ImportResult(rows=len(products), created=outcome.created, updated=outcome.updated)
