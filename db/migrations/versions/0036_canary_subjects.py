"""Router canaries of an agent version or a router threshold, and a tenant's own routing threshold.

`router_canaries.subject` says what a canary tries (`contracts.canary.CanarySubject`): a model (the rows
before this revision, whose `model` and `tier` say which), an agent version or a routing threshold; for the
last two `model` and `tier` are empty. `tenant_router_settings.canary_subject` is the router's running canary
of an agent version or a threshold ({"id", "kind", "share", "agent", "version"} or {"id", "kind", "share",
"threshold"}), next to the model canary's `canary_model`/`canary_share`; `threshold` is the tenant's own
routing threshold (a promoted threshold canary's), used instead of the one its quality target gives.

Revision ID: 0036
Revises: 0035
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "router_canaries",
        sa.Column(
            "subject", postgresql.JSONB(), nullable=False, server_default=sa.text("""'{"kind": "model"}'::jsonb""")
        ),
    )
    op.drop_constraint("ck_router_canaries_tier", "router_canaries")
    op.create_check_constraint(
        "ck_router_canaries_tier",
        "router_canaries",
        "tier IN ('small', 'large') OR (tier = '' AND subject->>'kind' <> 'model')",
    )
    op.add_column("tenant_router_settings", sa.Column("canary_subject", postgresql.JSONB(), nullable=True))
    op.add_column("tenant_router_settings", sa.Column("threshold", sa.Float(), nullable=True))
    op.create_check_constraint(
        "ck_tenant_router_settings_threshold",
        "tenant_router_settings",
        "threshold IS NULL OR (threshold > 0 AND threshold < 1)",
    )


def downgrade() -> None:
    op.drop_constraint("ck_tenant_router_settings_threshold", "tenant_router_settings")
    op.drop_column("tenant_router_settings", "threshold")
    op.drop_column("tenant_router_settings", "canary_subject")
    op.execute("DELETE FROM router_canaries WHERE subject->>'kind' <> 'model'")
    op.drop_constraint("ck_router_canaries_tier", "router_canaries")
    op.create_check_constraint("ck_router_canaries_tier", "router_canaries", "tier IN ('small', 'large')")
    op.drop_column("router_canaries", "subject")
