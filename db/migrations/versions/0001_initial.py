"""Tenants, API keys, conversations and messages under forced row-level security.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
# Row-level security: (table, column holding the tenant). `tenants` is keyed on its own id.
_RLS_TABLES = (("tenants", "id"), ("api_keys", "tenant_id"), ("conversations", "tenant_id"), ("messages", "tenant_id"))
# The authentication functions run as the table owner. A superuser owner bypasses row-level security, but
# on managed databases the owner usually is not, and FORCE binds it too. These policies open the two tables
# to the owner exactly when the login is the app role: the app role is no member of the owner, so that only
# happens inside the owner's SECURITY DEFINER functions, the ones below.
_APP_ROLE = "aiaas_app"
_DEFINER_POLICIES = (
    ("tenants", "SELECT", "auth_definer_read"),
    ("api_keys", "SELECT", "auth_definer_read"),
    ("api_keys", "UPDATE", "auth_definer_touch"),
)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    if nullable:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=True)
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))


def _create_tables() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("plan", sa.String(), nullable=False, server_default="free"),
        sa.Column("status", sa.String(), nullable=False, server_default="active"),
        _timestamp("created_at"),
        sa.CheckConstraint("plan IN ('free', 'pro', 'enterprise')", name="ck_tenants_plan"),
        sa.CheckConstraint("status IN ('active', 'suspended', 'offboarding')", name="ck_tenants_status"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("scopes", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        _timestamp("created_at"),
        _timestamp("expires_at", nullable=True),
        _timestamp("revoked_at", nullable=True),
        _timestamp("last_used_at", nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant", ondelete="CASCADE"),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"], unique=True)
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("double_texting", sa.String(), nullable=False, server_default="enqueue"),
        sa.Column("status", sa.String(), nullable=False, server_default="open"),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_conversations_tenant", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_conversations_tenant_id_id"),
        sa.CheckConstraint(
            "double_texting IN ('enqueue', 'reject', 'interrupt')", name="ck_conversations_double_texting"
        ),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("content", sa.String(), nullable=False),
        sa.Column("client_message_id", sa.String(), nullable=True),
        sa.Column("reply_to", sa.String(), nullable=True),
        sa.Column("model", sa.String(), nullable=True),
        _timestamp("created_at"),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "conversation_id"],
            ["conversations.tenant_id", "conversations.id"],
            name="fk_messages_conversation",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("role IN ('user', 'assistant')", name="ck_messages_role"),
    )
    op.create_index("ix_messages_tenant_conversation", "messages", ["tenant_id", "conversation_id", "seq"])
    op.create_index(
        "uq_messages_client_message_id",
        "messages",
        ["tenant_id", "conversation_id", "client_message_id"],
        unique=True,
        postgresql_where=sa.text("client_message_id IS NOT NULL"),
    )
    op.create_index(
        "uq_messages_reply_to",
        "messages",
        ["tenant_id", "reply_to"],
        unique=True,
        postgresql_where=sa.text("reply_to IS NOT NULL"),
    )


def _enable_row_level_security() -> None:
    for table, column in _RLS_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} USING ({column} = {_TENANT}) WITH CHECK ({column} = {_TENANT})"
        )
    for table, command, name in _DEFINER_POLICIES:
        op.execute(
            f"CREATE POLICY {name} ON {table} FOR {command} TO CURRENT_USER USING (session_user = '{_APP_ROLE}')"
        )


def _create_auth_functions() -> None:
    # SECURITY DEFINER with a pinned search_path and schema-qualified names, so a caller cannot redirect
    # the lookup to objects of its own.
    op.execute(
        """
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
    )
    # The minute threshold here as well as in the gateway: several gateway replicas then still cost at
    # most one row update per key per minute.
    op.execute(
        """
        CREATE FUNCTION public.auth_touch_api_key(p_key_id text)
        RETURNS void
        LANGUAGE sql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
            UPDATE public.api_keys SET last_used_at = now()
            WHERE id = p_key_id
              AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        $$
        """
    )
    for signature in ("auth_lookup_api_key(text)", "auth_touch_api_key(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION public.{signature} FROM PUBLIC")


def upgrade() -> None:
    _create_tables()
    _enable_row_level_security()
    _create_auth_functions()


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS public.auth_touch_api_key(text)")
    op.execute("DROP FUNCTION IF EXISTS public.auth_lookup_api_key(text)")
    for table in ("messages", "conversations", "api_keys", "tenants"):
        op.drop_table(table)
