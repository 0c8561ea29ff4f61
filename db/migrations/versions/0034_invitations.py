"""Invitations to join a tenant, and the two functions that let the gateway's role reach users.

`invitations` is a tenant table under forced row-level security like the others. The acceptance token is kept
only as its SHA-256 (`token_sha256`, unique): the token is 256 random bits, so a plain digest is as good as a
slow hash, and a stolen table opens nothing. Expiry is a timestamp; "expired" is derived from it when read, so
nothing has to sweep the table.

`users` stays closed to the app role. It reaches users through two security-definer functions:

- `identity_ensure_user(subject, email, display_name)`: the user with this identity-provider subject, created
  if new (what `tenancy.tenants.ensure_user` runs), so accepting an invitation needs no owner credentials;
- `identity_member_profiles()`: email and display name of the members of the tenant the transaction is bound
  to, and of nobody else.

Revision ID: 0034
Revises: 0033
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_APP_ROLE = "aiaas_app"
_TENANT_ROLES = "('owner', 'admin', 'developer', 'operator', 'viewer')"
_ENSURE_USER = "identity_ensure_user(text, text, text)"
_PROFILES = "identity_member_profiles()"


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    default = None if nullable else sa.text("now()")
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def _create_table() -> None:
    op.create_table(
        "invitations",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("token_sha256", sa.String(), nullable=False),
        # Who invited: the audit log's actor name (`apikey:<id>` or a token's subject), and what their
        # credentials carried, so acceptance can check they may still grant the role.
        sa.Column("invited_by", sa.String(), nullable=False),
        sa.Column("inviter_roles", sa.ARRAY(sa.String()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("inviter_scopes", sa.ARRAY(sa.String()), nullable=False, server_default=sa.text("'{}'")),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        _timestamp("accepted_at", nullable=True),
        sa.Column("accepted_by", sa.String(), nullable=True),
        _timestamp("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_invitations"),
        sa.UniqueConstraint("token_sha256", name="uq_invitations_token_sha256"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_invitations_tenant", ondelete="CASCADE"),
        sa.CheckConstraint(f"role IN {_TENANT_ROLES}", name="ck_invitations_role"),
    )
    op.create_index("ix_invitations_tenant_created", "invitations", ["tenant_id", "created_at", "id"])
    op.create_index("ix_invitations_tenant_email", "invitations", ["tenant_id", sa.text("lower(email)")])
    op.execute("ALTER TABLE invitations ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE invitations FORCE ROW LEVEL SECURITY")
    isolated = f"tenant_id = {_TENANT}"
    op.execute(f"CREATE POLICY tenant_isolation ON invitations USING ({isolated}) WITH CHECK ({isolated})")


def _grant_to_app_role(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION public.{signature} FROM PUBLIC")
    op.execute(
        f"DO $$ BEGIN IF to_regrole('{_APP_ROLE}') IS NOT NULL THEN "
        f"GRANT EXECUTE ON FUNCTION public.{signature} TO {_APP_ROLE}; END IF; END $$"
    )


def _create_functions() -> None:
    op.execute(
        """
        CREATE FUNCTION public.identity_ensure_user(p_subject text, p_email text, p_display_name text)
        RETURNS text
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE found text;
        BEGIN
            IF p_subject IS NULL OR length(p_subject) NOT BETWEEN 1 AND 255 THEN
                RAISE EXCEPTION 'subject must be 1 to 255 characters' USING ERRCODE = '22023';
            END IF;
            INSERT INTO public.users (id, subject, email, display_name)
            VALUES (gen_random_uuid()::text, p_subject, p_email, p_display_name)
            -- An update even when nothing is given, so that RETURNING yields the existing row's id too.
            ON CONFLICT (subject) DO UPDATE SET email = COALESCE(EXCLUDED.email, users.email),
                display_name = COALESCE(EXCLUDED.display_name, users.display_name)
            RETURNING id INTO found;
            RETURN found;
        END $$
        """
    )
    _grant_to_app_role(_ENSURE_USER)
    op.execute(
        """
        CREATE FUNCTION public.identity_member_profiles()
        RETURNS TABLE (user_id text, email text, display_name text)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT u.id, u.email, u.display_name
            FROM public.memberships AS m JOIN public.users AS u ON u.id = m.user_id
            WHERE m.tenant_id = current_setting('app.tenant_id', true)
        $$
        """
    )
    _grant_to_app_role(_PROFILES)


def upgrade() -> None:
    _create_table()
    _create_functions()


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS public.{_PROFILES}")
    op.execute(f"DROP FUNCTION IF EXISTS public.{_ENSURE_USER}")
    op.drop_table("invitations")
