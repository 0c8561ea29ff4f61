"""The tenants a person may choose in the console: `identity_memberships(subject)`.

An ID token that names no tenant leaves the choice to the person, among the tenants they are a member of.
`memberships` and `users` are closed to the app role outside a tenant, so the list comes from a
security-definer function that answers for one identity-provider subject (taken from a verified token, never
from a form): each active tenant it is a member of, with the tenant's name and the member's role. Nothing of
other people, and nothing of tenants the subject does not belong to.

Revision ID: 0037
Revises: 0036
"""

from __future__ import annotations

from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

_APP_ROLE = "aiaas_app"
_MEMBERSHIPS = "identity_memberships(text)"


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION public.identity_memberships(p_subject text)
        RETURNS TABLE (tenant_id text, tenant_name text, role text)
        LANGUAGE sql STABLE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            SELECT m.tenant_id, t.name, m.role
            FROM public.memberships AS m
            JOIN public.users AS u ON u.id = m.user_id
            JOIN public.tenants AS t ON t.id = m.tenant_id
            WHERE u.subject = p_subject AND t.status = 'active'
            ORDER BY t.name, m.tenant_id
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION public.{_MEMBERSHIPS} FROM PUBLIC")
    op.execute(
        f"DO $$ BEGIN IF to_regrole('{_APP_ROLE}') IS NOT NULL THEN "
        f"GRANT EXECUTE ON FUNCTION public.{_MEMBERSHIPS} TO {_APP_ROLE}; END IF; END $$"
    )


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS public.{_MEMBERSHIPS}")
