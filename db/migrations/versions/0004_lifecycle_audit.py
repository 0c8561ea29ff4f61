"""Tenant lifecycle (data region, offboarding) and the hash-chained audit log.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_APP_ROLE = "aiaas_app"
_REGIONS = "('eu-west', 'eu-central', 'us-east', 'us-west', 'ap-southeast')"
_HASH = "'^[0-9a-f]{64}$'"
# The write functions run the same check first: `lifecycle_require_bound`.
_FUNCTIONS = {
    # Every write function refuses any tenant but the one the transaction is bound to, so a request acting
    # for tenant A cannot touch tenant B through them; and it is the owner's own tenant_isolation policy that
    # then lets the write through, also where the owner is no superuser.
    "public.lifecycle_require_bound(text)": """
        RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF p_id IS NULL OR p_id IS DISTINCT FROM current_setting('app.tenant_id', true) THEN
                RAISE EXCEPTION 'the transaction is not bound to tenant %', p_id USING ERRCODE = '42501';
            END IF;
        END $$""",
    "public.lifecycle_create_tenant(text, text, text, text, text)": """
        RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
            v_slug text := p_slug;
            v_attempt int := 1;
            v_constraint text;
        BEGIN
            PERFORM public.lifecycle_require_bound(p_id);
            LOOP
                BEGIN
                    INSERT INTO public.tenants (id, name, slug, plan, status, data_region, created_at)
                    VALUES (p_id, p_name, v_slug, p_plan, 'active', p_region, now());
                    RETURN v_slug;
                EXCEPTION WHEN unique_violation THEN
                    GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
                    IF v_constraint <> 'uq_tenants_slug' OR v_attempt >= 20 THEN
                        RAISE;
                    END IF;
                    v_attempt := v_attempt + 1;
                    -- Readable suffixes first; past a few, a random one ends a race with concurrent creations.
                    v_slug := p_slug || '-' || CASE WHEN v_attempt <= 5 THEN v_attempt::text
                                                    ELSE substr(md5(random()::text), 1, 6) END;
                END;
            END LOOP;
        END $$""",
    "public.lifecycle_update_tenant(text, text, text)": """
        RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            PERFORM public.lifecycle_require_bound(p_id);
            UPDATE public.tenants SET name = COALESCE(p_name, name), plan = COALESCE(p_plan, plan)
            WHERE id = p_id;
            RETURN FOUND;
        END $$""",
    # Compare-and-set on the status, so two admins racing (suspend against offboard) cannot both win.
    "public.lifecycle_set_status(text, text, text, timestamptz)": """
        RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            PERFORM public.lifecycle_require_bound(p_id);
            UPDATE public.tenants SET
                status = p_to,
                offboarding_started_at = CASE WHEN p_to = 'offboarding' THEN now() END,
                purge_after = CASE WHEN p_to = 'offboarding' THEN p_purge_after END
            WHERE id = p_id AND status = p_from;
            RETURN FOUND;
        END $$""",
    "public.lifecycle_delete_tenant(text)": """
        RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE n bigint;
        BEGIN
            PERFORM public.lifecycle_require_bound(p_id);
            DELETE FROM public.tenants WHERE id = p_id AND status = 'offboarding';
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END $$""",
    # Reads every tenant: the owner sees them all here through 0001's `auth_definer_read` policy, which
    # opens `tenants` to the owner exactly when the login is the app role.
    "public.lifecycle_list_tenants(text, timestamptz, text, integer)": """
        RETURNS TABLE (id text, name text, slug text, plan text, status text, data_region text,
                       created_at timestamptz, offboarding_started_at timestamptz, purge_after timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
            SELECT t.id, t.name, t.slug, t.plan, t.status, t.data_region, t.created_at,
                   t.offboarding_started_at, t.purge_after
            FROM public.tenants AS t
            WHERE (p_status IS NULL OR t.status = p_status)
              AND (p_after_created IS NULL OR (t.created_at, t.id) > (p_after_created, p_after_id))
            ORDER BY t.created_at, t.id
            LIMIT least(greatest(p_limit, 1), 500)
        $$""",
    # The only way past the audit trigger: it passes DELETEs of the tenant named in the transaction-local
    # `aiaas.audit_purge_tenant`, which this function sets, and only for a tenant that is offboarding.
    "audit.purge_tenant(text)": """
        RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE n bigint;
        BEGIN
            PERFORM public.lifecycle_require_bound(p_id);
            IF NOT EXISTS (SELECT 1 FROM public.tenants WHERE id = p_id AND status = 'offboarding') THEN
                RAISE EXCEPTION 'only an offboarding tenant''s audit log may be purged' USING ERRCODE = '42501';
            END IF;
            PERFORM set_config('aiaas.audit_purge_tenant', p_id, true);
            DELETE FROM audit.events WHERE tenant_id = p_id;
            GET DIAGNOSTICS n = ROW_COUNT;
            PERFORM set_config('aiaas.audit_purge_tenant', '', true);
            RETURN n;
        END $$""",
}
_PARAMETERS = {
    "public.lifecycle_require_bound": "p_id text",
    "public.lifecycle_create_tenant": "p_id text, p_name text, p_slug text, p_plan text, p_region text",
    "public.lifecycle_update_tenant": "p_id text, p_name text, p_plan text",
    "public.lifecycle_set_status": "p_id text, p_from text, p_to text, p_purge_after timestamptz",
    "public.lifecycle_delete_tenant": "p_id text",
    "public.lifecycle_list_tenants": "p_status text, p_after_created timestamptz, p_after_id text, p_limit integer",
    "audit.purge_tenant": "p_id text",
}
# Called by the definer functions only, as the owner: the app role needs no grant on it.
_INTERNAL = frozenset({"public.lifecycle_require_bound(text)"})


def _if_app_role(statement: str) -> str:
    # migrate() creates the app role before upgrading; the guard only matters for a bare `alembic upgrade`.
    exists = f"EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{_APP_ROLE}')"  # noqa: S608
    return f"DO $$ BEGIN IF {exists} THEN {statement}; END IF; END $$"


def _extend_tenants() -> None:
    op.add_column("tenants", sa.Column("data_region", sa.String(), nullable=False, server_default="eu-west"))
    op.add_column("tenants", sa.Column("offboarding_started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tenants", sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint("ck_tenants_data_region", "tenants", f"data_region IN {_REGIONS}")


def _create_audit_table() -> None:
    op.execute("CREATE SCHEMA audit")
    op.execute("REVOKE ALL ON SCHEMA audit FROM PUBLIC")
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column("details", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.UniqueConstraint("tenant_id", "seq", name="uq_audit_events_tenant_seq"),
        sa.CheckConstraint("seq > 0", name="ck_audit_events_seq"),
        sa.CheckConstraint(f"prev_hash ~ {_HASH} AND hash ~ {_HASH}", name="ck_audit_events_hashes"),
        schema="audit",
    )
    op.create_index("ix_audit_events_tenant_id_id", "events", ["tenant_id", "id"], schema="audit")
    op.create_index("ix_audit_events_tenant_action", "events", ["tenant_id", "action", "id"], schema="audit")
    op.create_index("ix_audit_events_tenant_occurred", "events", ["tenant_id", "occurred_at"], schema="audit")
    op.create_index(
        "uq_audit_events_idempotency_key",
        "events",
        ["tenant_id", "idempotency_key"],
        unique=True,
        schema="audit",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.execute("ALTER TABLE audit.events ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit.events FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON audit.events "
        f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )


def _make_audit_append_only() -> None:
    # Privileges stop the app role; the trigger stops everyone else too, the owner included, unless the
    # purge of an offboarded tenant has said so explicitly for this transaction and this tenant.
    op.execute(
        """
        CREATE FUNCTION audit.refuse_change() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.tenant_id = current_setting('aiaas.audit_purge_tenant', true) THEN
                    RETURN OLD;
                END IF;
            END IF;
            RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = '42501';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON audit.events "
        "FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON audit.events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
    )
    op.execute("REVOKE ALL ON TABLE audit.events FROM PUBLIC")
    op.execute(_if_app_role(f"GRANT USAGE ON SCHEMA audit TO {_APP_ROLE}"))
    op.execute(_if_app_role(f"GRANT SELECT, INSERT ON TABLE audit.events TO {_APP_ROLE}"))


def _create_functions() -> None:
    for signature, body in _FUNCTIONS.items():
        name = signature.split("(", 1)[0]
        op.execute(f"CREATE FUNCTION {name}({_PARAMETERS[name]}) {body}")
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        if signature not in _INTERNAL:
            op.execute(_if_app_role(f"GRANT EXECUTE ON FUNCTION {signature} TO {_APP_ROLE}"))


def upgrade() -> None:
    _extend_tenants()
    _create_audit_table()
    _make_audit_append_only()
    _create_functions()


def downgrade() -> None:
    for signature in reversed(_FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.execute("DROP SCHEMA audit CASCADE")
    op.drop_constraint("ck_tenants_data_region", "tenants", type_="check")
    for column in ("purge_after", "offboarding_started_at", "data_region"):
        op.drop_column("tenants", column)
