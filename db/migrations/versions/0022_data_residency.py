"""Data residency: a regional database knows its region and refuses other regions' tenants.

`database_region` holds at most one row. The control-plane database (and the default single database) has
none: it serves every region. A regional data-plane database gets its row from `aiaas migrate`
(`db.regions`), and from then on:

- `tenants` accepts only rows whose `data_region` is that region (trigger `residency_guard_tenant`). Every
  tenant table references `tenants(id)`, so no row of another region's tenant can be written here at all.
- `residency_bind_tenant(id)` binds a transaction to a tenant (as `set_config` does) and raises `RG001` when
  the tenant is not one of this region's: data-plane sessions bind through it, so a session opened on the
  wrong region's database fails before its first statement.
- `residency_register_tenant(...)` copies a tenant's control-plane row here (create, plan or status change);
  the app role may call it, and the guard refuses a foreign region.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_FUNCTIONS = (
    "residency_bind_tenant(text)",
    "residency_register_tenant(text, text, text, text, text, text, timestamptz)",
)


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE database_region (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            region text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE FUNCTION residency_database_region() RETURNS text
        LANGUAGE sql STABLE SET search_path = public, pg_temp
        AS $$ SELECT region FROM public.database_region $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION residency_guard_tenant() RETURNS trigger
        LANGUAGE plpgsql SET search_path = public, pg_temp
        AS $$
        DECLARE served text := public.residency_database_region();
        BEGIN
            IF served IS NOT NULL AND NEW.data_region IS DISTINCT FROM served THEN
                RAISE EXCEPTION 'tenant % lives in region %, this database holds region %',
                    NEW.id, NEW.data_region, served USING ERRCODE = 'RG001';
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER residency_guard_tenant BEFORE INSERT OR UPDATE ON tenants "
        "FOR EACH ROW EXECUTE FUNCTION residency_guard_tenant()"
    )
    op.execute(
        """
        CREATE FUNCTION residency_bind_tenant(p_id text) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
        DECLARE served text := public.residency_database_region();
        DECLARE home text;
        BEGIN
            PERFORM set_config('app.tenant_id', p_id, true);
            IF served IS NULL THEN
                RETURN NULL;
            END IF;
            SELECT data_region INTO home FROM public.tenants WHERE id = p_id;
            IF home IS DISTINCT FROM served THEN
                RAISE EXCEPTION 'tenant % is not held in region %', p_id, served USING ERRCODE = 'RG001';
            END IF;
            RETURN served;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION residency_register_tenant(
            p_id text, p_name text, p_slug text, p_plan text, p_status text, p_region text, p_created timestamptz
        ) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
        BEGIN
            IF public.residency_database_region() IS NULL THEN
                RAISE EXCEPTION 'this database is not a regional data plane' USING ERRCODE = 'RG001';
            END IF;
            PERFORM set_config('app.tenant_id', p_id, true);
            INSERT INTO public.tenants (id, name, slug, plan, status, data_region, created_at)
            VALUES (p_id, p_name, p_slug, p_plan, p_status, p_region, p_created)
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, slug = EXCLUDED.slug, plan = EXCLUDED.plan,
                status = EXCLUDED.status, data_region = EXCLUDED.data_region;
        END $$
        """
    )
    # `db.migrate` revokes these from PUBLIC and grants them to the app role on every run.


def downgrade() -> None:
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP TRIGGER IF EXISTS residency_guard_tenant ON tenants")
    op.execute("DROP FUNCTION IF EXISTS residency_guard_tenant()")
    op.execute("DROP FUNCTION IF EXISTS residency_database_region()")
    op.execute("DROP TABLE IF EXISTS database_region")
