"""Usage ledger and budgets: what every model and tool call cost a tenant, and what it may spend.

`usage_ledger` has one row per metered step, keyed by an attempt-independent key (tenant, key): a retried
activity, a replayed workflow or a worker killed mid-call finds the row its step already has, so a step
is reserved once and settled once. A reservation carries an expiry; one whose worker died is refunded by
the sweep (`usage_expire_reservations`) instead of counting against the budget forever. `budgets` holds a
tenant's soft (safe mode) and hard (blocked) limits per UTC day and month.

The sweep runs for every tenant at once, which the app role cannot do under row-level security; it is a
security-definer function, and the two owner policies below open the ledger to the owner exactly when the
login is the app role, which only happens inside that function (the pattern of 0001's auth functions).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TENANT = "current_setting('app.tenant_id', true)"
_APP_ROLE = "aiaas_app"
_TABLES = ("usage_ledger", "budgets")
_MONEY = sa.Numeric(14, 6)
_LIMITS = ("daily_soft_usd", "daily_hard_usd", "monthly_soft_usd", "monthly_hard_usd")
_SWEEP = "public.usage_expire_reservations(integer)"
_DEFINER_POLICIES = (("SELECT", "usage_definer_read"), ("UPDATE", "usage_definer_expire"))


def _if_app_role(statement: str) -> str:
    # migrate() creates the app role before upgrading; the guard only matters for a bare `alembic upgrade`.
    exists = f"EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{_APP_ROLE}')"  # noqa: S608
    return f"DO $$ BEGIN IF {exists} THEN {statement}; END IF; END $$"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant", ondelete="CASCADE")


def _text(name: str) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=False, server_default="")


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def _usd(name: str) -> sa.Column:
    return sa.Column(name, _MONEY, nullable=False, server_default="0")


def _create_ledger() -> None:
    op.create_table(
        "usage_ledger",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.String(), nullable=True),
        _text("agent"),
        _text("model"),
        _text("tool"),
        _count("prompt_tokens"),
        _count("completion_tokens"),
        _usd("reserved_usd"),
        _usd("cost_usd"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_usage_ledger"),
        _tenant_fk("usage_ledger"),
        sa.CheckConstraint("kind IN ('model', 'tool')", name="ck_usage_ledger_kind"),
        sa.CheckConstraint("status IN ('reserved', 'settled', 'refunded')", name="ck_usage_ledger_status"),
        sa.CheckConstraint(
            "prompt_tokens >= 0 AND completion_tokens >= 0 AND reserved_usd >= 0 AND cost_usd >= 0",
            name="ck_usage_ledger_amounts",
        ),
    )
    op.create_index("ix_usage_ledger_tenant_created", "usage_ledger", ["tenant_id", "created_at"])
    op.create_index("ix_usage_ledger_tenant_status_expires", "usage_ledger", ["tenant_id", "status", "expires_at"])
    # The cross-tenant sweep's own index: only live reservations, so it stays small.
    op.create_index(
        "ix_usage_ledger_reserved_expires",
        "usage_ledger",
        ["expires_at"],
        postgresql_where=sa.text("status = 'reserved'"),
    )


def _create_budgets() -> None:
    op.create_table(
        "budgets",
        sa.Column("tenant_id", sa.String(), nullable=False),
        *(sa.Column(name, _MONEY, nullable=True) for name in _LIMITS),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_budgets"),
        _tenant_fk("budgets"),
        sa.CheckConstraint(" AND ".join(f"({n} IS NULL OR {n} >= 0)" for n in _LIMITS), name="ck_budgets_limits"),
        sa.CheckConstraint(
            "(daily_soft_usd IS NULL OR daily_hard_usd IS NULL OR daily_soft_usd <= daily_hard_usd) AND "
            "(monthly_soft_usd IS NULL OR monthly_hard_usd IS NULL OR monthly_soft_usd <= monthly_hard_usd)",
            name="ck_budgets_soft_below_hard",
        ),
    )


def _protect() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
        )
    for command, name in _DEFINER_POLICIES:
        op.execute(
            f"CREATE POLICY {name} ON usage_ledger FOR {command} TO CURRENT_USER USING (session_user = '{_APP_ROLE}')"
        )


def _create_sweep() -> None:
    # Bounded batches under SKIP LOCKED: a sweep never waits on a settle that holds the row, and a large
    # backlog is worked off over several calls instead of in one long transaction.
    op.execute(
        """
        CREATE FUNCTION public.usage_expire_reservations(p_limit integer)
        RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE n bigint;
        BEGIN
            UPDATE public.usage_ledger AS l SET status = 'refunded'
            FROM (
                SELECT tenant_id, key FROM public.usage_ledger
                WHERE status = 'reserved' AND expires_at <= now()
                LIMIT least(greatest(p_limit, 1), 10000)
                FOR UPDATE SKIP LOCKED
            ) AS due
            WHERE l.tenant_id = due.tenant_id AND l.key = due.key AND l.status = 'reserved';
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {_SWEEP} FROM PUBLIC")
    op.execute(_if_app_role(f"GRANT EXECUTE ON FUNCTION {_SWEEP} TO {_APP_ROLE}"))


def upgrade() -> None:
    _create_ledger()
    _create_budgets()
    _protect()
    _create_sweep()


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SWEEP}")
    op.drop_table("budgets")
    op.drop_index("ix_usage_ledger_reserved_expires", table_name="usage_ledger")
    op.drop_index("ix_usage_ledger_tenant_status_expires", table_name="usage_ledger")
    op.drop_index("ix_usage_ledger_tenant_created", table_name="usage_ledger")
    op.drop_table("usage_ledger")
