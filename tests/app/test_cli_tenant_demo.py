"""`aiaas tenant create --demo`: a new tenant with a world to act on, and the ids a person needs to try it."""

from __future__ import annotations

import asyncio
import json

import pytest

from core.settings import Settings
from db.database import Database, run_sql

from .conftest import run


def rows(settings: Settings, tenant_id: str, sql: str) -> list[tuple[object, ...]]:
    """What `tenant_id` sees of a query, through the app role under row-level security."""

    async def query() -> list[tuple[object, ...]]:
        db = Database(settings.resolved_app_database_url(), pool_size=1)
        try:
            async with db.tenant_session(tenant_id) as session:
                return [tuple(r) for r in await run_sql(session, sql)]
        finally:
            await db.close()

    return asyncio.run(query())


def test_demo_tenant_gets_its_world_and_only_it(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tenant", "create", "--name", "Demo Shop", "--demo", "--json")
    assert code == 0, err
    created = json.loads(out)
    demo = created["demo"]
    assert set(demo["customers"]) == {"ada", "bob"} and len(demo["orders"]) == 4 and "SKU-MUG" in demo["skus"]
    customers = {r[0] for r in rows(cli_env, created["tenant_id"], "SELECT id FROM customers")}
    orders = {r[0]: r[1] for r in rows(cli_env, created["tenant_id"], "SELECT id, customer_id FROM orders")}
    assert customers == set(demo["customers"].values())
    assert orders[demo["orders"]["ada.placed"]] == demo["customers"]["ada"]
    assert set(orders) == set(demo["orders"].values())

    # Another tenant made without --demo sees nothing of it, and has nothing of its own.
    code, out, _ = run(capsys, "tenant", "create", "--name", "Plain Shop", "--json")
    plain = json.loads(out)
    assert code == 0 and "demo" not in plain
    assert rows(cli_env, plain["tenant_id"], "SELECT id FROM orders") == []
    # The demo tenant's orders are not the plain tenant's to see.
    assert rows(cli_env, plain["tenant_id"], "SELECT id FROM customers") == []


def test_demo_tenant_text_output_names_the_ids(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tenant", "create", "--name", "Demo Text", "--demo")
    assert code == 0
    assert "demo world:" in out and "ada.placed" in out and "SKU-HOODIE" in out
