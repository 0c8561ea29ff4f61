"""What the app role may do beyond reading and writing its tenant's rows, which is very little.

Platform-level tables are closed to it, the audit log takes appends only, and everything else it needs across
tenants goes through a short list of security-definer functions, each with a pinned search path and closed
to everyone but the app role.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.database import Database, run_sql
from db.migrate import APP_ROLE

# The definer functions the app role calls; a new one must be added here on purpose.
APP_FUNCTIONS = {
    "public.auth_lookup_api_key",
    "public.auth_touch_api_key",
    "public.auth_lookup_identity",
    "public.identity_ensure_user",
    "public.identity_member_profiles",
    "public.identity_memberships",
    "public.lifecycle_create_tenant",
    "public.lifecycle_update_tenant",
    "public.lifecycle_set_status",
    "public.lifecycle_delete_tenant",
    "public.lifecycle_list_tenants",
    "public.usage_expire_reservations",
    "audit.purge_tenant",
    "audit.reanchor",
    "public.residency_bind_tenant",
    "public.residency_register_tenant",
}
_OUR_FUNCTIONS = text(
    """
    SELECT n.nspname || '.' || p.proname AS name, p.prosecdef AS definer, p.proconfig AS config,
           has_function_privilege(:r, p.oid, 'EXECUTE') AS app, has_function_privilege('public', p.oid, 'EXECUTE')
           AS anyone
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                      AND d.deptype = 'e')
    ORDER BY 1
    """
)
_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")


async def _granted(db: Database, table: str) -> dict[str, bool]:
    async with db.engine.connect() as conn:
        query = text("SELECT has_table_privilege(:r, :t, :p)")
        return {p: bool(await conn.scalar(query, {"r": APP_ROLE, "t": table, "p": p})) for p in _PRIVILEGES}


@pytest.mark.parametrize(
    ("table", "allowed"),
    [
        # Users and administrators carry no tenant: the app role reaches them only through `auth_lookup_identity`.
        ("public.users", set()),
        ("public.platform_admins", set()),
        # Tenants are created and changed through the lifecycle functions only.
        ("public.tenants", {"SELECT"}),
        # An audit record, once written, stays as written.
        ("audit.events", {"SELECT", "INSERT"}),
        # A re-anchor is written by `audit.reanchor` alone, and never changed.
        ("audit.reanchors", {"SELECT"}),
        # Signup's platform rows: written and read by the worker's activities, deleted only by their retention rule.
        ("public.signups", {"SELECT", "INSERT", "UPDATE", "DELETE"}),
        ("public.mail_outbox", {"SELECT", "INSERT", "UPDATE", "DELETE"}),
    ],
)
async def test_the_app_role_holds_only_these_privileges(admin_db: Database, table: str, allowed: set[str]) -> None:
    granted = await _granted(admin_db, table)
    assert {privilege for privilege, held in granted.items() if held} == allowed


async def test_the_app_role_can_not_create_a_tenant_or_read_users(app_db: Database) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        async with app_db.tenant_session("some-tenant") as session:
            await run_sql(session, "INSERT INTO tenants (id, name, slug) VALUES ('some-tenant', 'x', 'x-some-tenant')")
    for table in ("users", "platform_admins"):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with app_db.engine.connect() as conn:
                await conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608


async def test_definer_functions_are_pinned_and_only_for_the_app_role(admin_db: Database) -> None:
    async with admin_db.engine.connect() as conn:
        functions = {row.name: row for row in await conn.execute(_OUR_FUNCTIONS, {"r": APP_ROLE})}
    definers = {name for name, row in functions.items() if row.definer}
    assert definers == APP_FUNCTIONS
    for name in definers:
        row = functions[name]
        # A definer function runs with the owner's rights: a search path the caller controls would hand them over.
        assert any(setting.startswith("search_path=") for setting in row.config or ()), name
        assert row.app and not row.anyone, name
    # Only ever called from inside the definer functions.
    bound = functions["public.lifecycle_require_bound"]
    assert not bound.app and not bound.anyone


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT lifecycle_update_tenant(:other, 'Hijacked', NULL)",
        "SELECT lifecycle_set_status(:other, 'active', 'suspended', NULL)",
        "SELECT lifecycle_delete_tenant(:other)",
        "SELECT audit.purge_tenant(:other)",
    ],
)
async def test_definer_functions_write_only_the_bound_tenant(
    app_db: Database, two_tenants: tuple[str, str], sql: str
) -> None:
    a, b = two_tenants
    with pytest.raises(DBAPIError, match="not bound to tenant"):
        async with app_db.tenant_session(a) as session:
            await run_sql(session, sql, {"other": b})
