"""CSV imports of customers and products on the running platform: counts, row errors, all or nothing, tenants.

A file with any bad row writes nothing and names every problem by row (the header is row 1); a good file is
upserted, so sending it twice changes nothing the second time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from db.database import Database, run_sql
from tests.api.helpers import error, every_item, fresh_tenant
from tests.e2e.platform import Platform

CSV = {"Content-Type": "text/csv"}


def _post(owner: httpx.Client, path: str, text: str | bytes, **headers: str) -> httpx.Response:
    body = text.encode() if isinstance(text, str) else text
    return owner.post(path, content=body, headers={**CSV, **headers})


def _imported(response: httpx.Response) -> tuple[int, int, int]:
    assert response.status_code == 200, response.text
    body = response.json()
    return body["rows"], body["created"], body["updated"]


def _row_errors(response: httpx.Response) -> list[tuple[int, Any]]:
    details = error(response, 422, "import_invalid")["details"]
    assert details["error_count"] == len(details["errors"])
    return [(e["row"], e["column"]) for e in details["errors"]]


def test_customers_import_creates_then_updates(platform: Platform) -> None:
    with fresh_tenant(platform, "Import customers") as (_tenant_id, owner):
        first = "email,name,phone\r\nada@example.com,Ada Lovelace,+44 20 7946 0001\r\n\r\nBob@Example.com,Bob,\r\n"
        assert _imported(_post(owner, "/v1/customers/import", first)) == (2, 2, 0)
        again = "\ufeffName , EMAIL\nAda L.,ada@example.com\nCy,cy@example.com\n"  # BOM, any order and case
        assert _imported(_post(owner, "/v1/customers/import", again)) == (2, 1, 1)
        by_email = {c["email"]: c for c in every_item(owner, "/v1/customers")}
        assert set(by_email) == {"ada@example.com", "bob@example.com", "cy@example.com"}
        # No phone column (or an empty cell) keeps the phone on record.
        ada = by_email["ada@example.com"]
        assert (ada["name"], ada["phone"]) == ("Ada L.", "+44 20 7946 0001")
        assert by_email["bob@example.com"]["phone"] is None
        assert _imported(_post(owner, "/v1/customers/import", "email,name\n")) == (0, 0, 0)


def test_a_bad_row_imports_nothing_and_every_problem_is_named(platform: Platform) -> None:
    with fresh_tenant(platform, "Bad rows") as (_tenant_id, owner):
        text = (
            "email,name,phone\n"
            "good@example.com,Good,\n"  # row 2
            "not-an-email,Bad,\n"  # row 3
            "x@example.com,,\n"  # row 4
            "good@example.com,Again,\n"  # row 5: repeats row 2
            "y@example.com,Too,many,cells\n"  # row 6
            'z@example.com,"Multi\nline",\n'  # row 7
        )
        problems = _row_errors(_post(owner, "/v1/customers/import", text))
        assert problems == [(3, "email"), (4, "name"), (5, "email"), (6, None), (7, "name")]
        assert every_item(owner, "/v1/customers") == []


def test_whole_file_problems_are_400_and_the_wrong_type_415(platform: Platform) -> None:
    with fresh_tenant(platform, "Bad files") as (_tenant_id, owner):
        for text in (
            b"",
            b"\n\n",
            b"\xff\xfe not utf-8",
            b"email\nada@example.com\n",  # no name column
            b"email,name,birthday\na@example.com,A,1990\n",
            b"email,name,email\na@example.com,A,b@example.com\n",
            b"email,name\x00\na@example.com,A\n",
        ):
            error(_post(owner, "/v1/customers/import", text), 400, "invalid_csv")
        for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded", ""):
            response = owner.post(
                "/v1/customers/import", content=b"email,name\na@example.com,A\n", headers={"Content-Type": content_type}
            )
            assert error(response, 415, "unsupported_media_type")["details"]["accepted"] == ["text/csv"]
        too_big = "email,name\n" + "a@example.com,A\n" * 80_000
        error(_post(owner, "/v1/customers/import", too_big), 413, "payload_too_large")
        too_many = "email,name\n" + "".join(f"c{i}@example.com,C\n" for i in range(10_001))
        error(_post(owner, "/v1/customers/import", too_many), 413, "too_many_rows")
        assert every_item(owner, "/v1/customers") == []


def test_products_import_keeps_stock_unless_given_and_respects_reservations(platform: Platform) -> None:
    with fresh_tenant(platform, "Catalogue") as (tenant_id, owner):
        first = "sku,name,price_cents,on_hand\nSKU-MUG,Mug,1500,40\nSKU-TEE,Tee,2500,\n"
        assert _imported(_post(owner, "/v1/products/import", first)) == (2, 2, 0)
        prices = "sku,name,price_cents\nSKU-MUG,Mug,1400\nSKU-CAP,Cap,1800\n"
        assert _imported(_post(owner, "/v1/products/import", prices)) == (2, 1, 1)
        products = {p["sku"]: p for p in every_item(owner, "/v1/products")}
        assert [p for p in products] == ["SKU-CAP", "SKU-MUG", "SKU-TEE"]
        assert (products["SKU-MUG"]["price_cents"], products["SKU-MUG"]["on_hand"]) == (1400, 40)
        assert products["SKU-TEE"]["on_hand"] == 0 and products["SKU-CAP"]["available"] == 0
        assert owner.get("/v1/products/SKU-MUG").json()["price_cents"] == 1400
        _reserve(platform, tenant_id, "SKU-MUG", 30)
        below = "sku,name,price_cents,on_hand\nSKU-MUG,Mug,1400,29\nSKU-NEW,New,100,5\n"
        assert _row_errors(_post(owner, "/v1/products/import", below)) == [(2, "on_hand")]
        assert "SKU-NEW" not in {p["sku"] for p in every_item(owner, "/v1/products")}
        bad = "sku,name,price_cents,on_hand\nbad sku,X,1,1\nSKU-A,A,15.00,1\nSKU-B,B,-1,1\nSKU-C,C,1,99999999999\n"
        assert _row_errors(_post(owner, "/v1/products/import", bad)) == [
            (2, "sku"),
            (3, "price_cents"),
            (4, "price_cents"),
            (5, "on_hand"),
        ]
        error(owner.get("/v1/products/SKU-NONE"), 404, "product_not_found")
        error(owner.get("/v1/products/bad%20sku"), 422, "invalid_request")


def _reserve(platform: Platform, tenant_id: str, sku: str, units: int) -> None:
    async def reserve() -> None:
        db = Database(platform.settings.resolved_app_database_url(), pool_size=1)
        try:
            async with db.tenant_session(tenant_id) as session:
                await run_sql(session, "UPDATE products SET reserved = :n WHERE sku = :sku", {"n": units, "sku": sku})
        finally:
            await db.close()

    asyncio.run(reserve())


def test_an_import_writes_only_into_its_own_tenant(platform: Platform, api: httpx.Client) -> None:
    with fresh_tenant(platform, "Importer") as (_tenant_id, importer):
        assert _imported(_post(importer, "/v1/products/import", "sku,name,price_cents\nSKU-MUG,Imported,1\n"))[1] == 1
        assert _imported(_post(importer, "/v1/customers/import", "email,name\nada@example.com,Imported\n"))[1] == 1
    # Tenant A's records with the same keys are untouched, and A does not see the importer's.
    assert "Imported" not in {p["name"] for p in every_item(api, "/v1/products")}
    assert "Imported" not in {c["name"] for c in every_item(api, "/v1/customers")}


def test_who_may_import(platform: Platform, api: httpx.Client) -> None:
    viewer_key = api.post("/v1/api-keys", json={"name": "v", "role": "viewer"}).json()["api_key"]
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {viewer_key}"}) as viewer:
        error(_post(viewer, "/v1/products/import", "sku,name,price_cents\nS,X,1\n"), 403, "forbidden")
        error(_post(viewer, "/v1/customers/import", "email,name\na@example.com,A\n"), 403, "forbidden")
    with httpx.Client(base_url=platform.base_url) as anonymous:
        error(_post(anonymous, "/v1/products/import", "sku,name,price_cents\nS,X,1\n"), 401, "unauthenticated")
