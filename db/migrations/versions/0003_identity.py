"""Users, memberships, platform administrators, API key rotation and scopes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_APP_ROLE = "aiaas_app"
_TENANT_ROLES = "('owner', 'admin', 'developer', 'operator', 'viewer')"
_PLATFORM_ROLES = "('platform_admin', 'platform_operator')"
_LOOKUP_KEY = "auth_lookup_api_key(text)"
_LOOKUP_IDENTITY = "auth_lookup_identity(text, text)"


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _create_tables() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("display_name", sa.String(), nullable=True),
        _timestamp("created_at"),
        sa.UniqueConstraint("subject", name="uq_users_subject"),
    )
    op.create_table(
        "memberships",
        sa.Column("tenant_id", sa.String(), primary_key=True),
        sa.Column("user_id", sa.String(), primary_key=True),
        sa.Column("role", sa.String(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_memberships_tenant", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_memberships_user", ondelete="CASCADE"),
        sa.CheckConstraint(f"role IN {_TENANT_ROLES}", name="ck_memberships_role"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "platform_admins",
        sa.Column("subject", sa.String(), primary_key=True),
        sa.Column("role", sa.String(), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint(f"role IN {_PLATFORM_ROLES}", name="ck_platform_admins_role"),
    )
    # No row-level security on the two platform tables: the app role holds no privilege on them at all
    # (migrate() grants only on tenant tables), which is the stronger guarantee.
    op.execute("REVOKE ALL ON TABLE users, platform_admins FROM PUBLIC")
    op.execute("ALTER TABLE memberships ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE memberships FORCE ROW LEVEL SECURITY")
    isolated = f"tenant_id = {_TENANT}"
    op.execute(f"CREATE POLICY tenant_isolation ON memberships USING ({isolated}) WITH CHECK ({isolated})")
    # As 0001 does for api_keys: the owner may read memberships only inside its definer functions.
    op.execute(
        "CREATE POLICY auth_definer_read ON memberships FOR SELECT TO CURRENT_USER "
        f"USING (session_user = '{_APP_ROLE}')"
    )


def _extend_api_keys() -> None:
    op.add_column("api_keys", sa.Column("role", sa.String(), nullable=False, server_default="owner"))
    op.add_column("api_keys", sa.Column("rotated_from", sa.String(), nullable=True))
    op.create_check_constraint("ck_api_keys_role", "api_keys", f"role IN {_TENANT_ROLES}")


_LOOKUP_KEY_WITH_ROLE = """
    CREATE FUNCTION public.auth_lookup_api_key(p_prefix text)
    RETURNS TABLE (key_id text, tenant_id text, secret_hash text, scopes jsonb,
                   expires_at timestamptz, revoked_at timestamptz, tenant_status text, role text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT k.id, k.tenant_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, t.status, k.role
        FROM public.api_keys AS k JOIN public.tenants AS t ON t.id = k.tenant_id
        WHERE k.prefix = p_prefix
    $$
"""
# The 0001 definition, restored by the downgrade.
_LOOKUP_KEY_WITHOUT_ROLE = """
    CREATE FUNCTION public.auth_lookup_api_key(p_prefix text)
    RETURNS TABLE (key_id text, tenant_id text, secret_hash text, scopes jsonb,
                   expires_at timestamptz, revoked_at timestamptz, tenant_status text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT k.id, k.tenant_id, k.secret_hash, k.scopes, k.expires_at, k.revoked_at, t.status
        FROM public.api_keys AS k JOIN public.tenants AS t ON t.id = k.tenant_id
        WHERE k.prefix = p_prefix
    $$
"""


def _replace_lookup_key(definition: str) -> None:
    # A new result column needs a new function: CREATE OR REPLACE cannot change the result type.
    op.execute(f"DROP FUNCTION public.{_LOOKUP_KEY}")
    op.execute(definition)
    _grant_to_app_role(_LOOKUP_KEY)


def _grant_to_app_role(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION public.{signature} FROM PUBLIC")
    # migrate() creates the app role before upgrading; the guard only matters for a bare `alembic upgrade`,
    # after which migrate() must still run to provision the role.
    op.execute(
        f"DO $$ BEGIN IF to_regrole('{_APP_ROLE}') IS NOT NULL THEN "
        f"GRANT EXECUTE ON FUNCTION public.{signature} TO {_APP_ROLE}; END IF; END $$"
    )


def _create_functions() -> None:
    _replace_lookup_key(_LOOKUP_KEY_WITH_ROLE)
    # Always exactly one row for a verified token's subject: its tenant's status, its role in that tenant
    # and its platform role, each NULL when there is none. Nothing else about the tenant or the user.
    op.execute(
        """
        CREATE FUNCTION public.auth_lookup_identity(p_subject text, p_tenant_id text)
        RETURNS TABLE (tenant_status text, tenant_role text, platform_role text)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT
                (SELECT t.status FROM public.tenants AS t WHERE t.id = p_tenant_id),
                (SELECT m.role FROM public.memberships AS m JOIN public.users AS u ON u.id = m.user_id
                 WHERE u.subject = p_subject AND m.tenant_id = p_tenant_id),
                (SELECT a.role FROM public.platform_admins AS a WHERE a.subject = p_subject)
        $$
        """
    )
    _grant_to_app_role(_LOOKUP_IDENTITY)


def upgrade() -> None:
    _create_tables()
    _extend_api_keys()
    _create_functions()


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS public.{_LOOKUP_IDENTITY}")
    _replace_lookup_key(_LOOKUP_KEY_WITHOUT_ROLE)
    op.drop_constraint("ck_api_keys_role", "api_keys", type_="check")
    op.drop_column("api_keys", "rotated_from")
    op.drop_column("api_keys", "role")
    op.drop_table("platform_admins")
    op.drop_table("memberships")
    op.drop_table("users")
