"""The audit log seals what an event records of an end customer; the chain hashes the ciphertext.

- `sealed`: the event's customer-bearing details (an approval's arguments, a decision's note) as AES-256-GCM
  ciphertext under a key of the event's own; `sealed_key`: that key, sealed under the tenant's data key
  (`core.crypto.fields`), and `key_version` its version.
- `sealed_sha256`: the SHA-256 of `sealed`, which the event's hash covers instead of the clear details.

Erasure empties `sealed` and `sealed_key` of the customer's events and nothing else: the digest stays, so the
chain still verifies, and nothing is left to open. Key rotation re-wraps `sealed_key` under a new version
without touching the hashed ciphertext. The append-only trigger lets exactly these changes through (any other
column changed, or `sealed` replaced by other bytes, is still refused) and the app role may update only these
three columns. Events from before keep `sealed_sha256` NULL and hash as they always did.

Orders get `fields_sealed` and `key_version` (`agents.sealed_records.ORDERS`): an order's note is the customer's
text or the reason its saga failed, sealed like the other end-customer fields; rows from before stay in clear
until key rotation seals them.

Revision ID: 0033
Revises: 0032
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

_APP_ROLE = "aiaas_app"
_MUTABLE = "ARRAY['sealed', 'sealed_key', 'key_version']"

_REFUSE_CHANGE = f"""
CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.tenant_id = current_setting('aiaas.audit_purge_tenant', true) THEN
            RETURN OLD;
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        -- The sealed part may be emptied (erasure) and its key re-wrapped (rotation); nothing else changes.
        IF (to_jsonb(NEW) - {_MUTABLE}) = (to_jsonb(OLD) - {_MUTABLE})
           AND (NEW.sealed IS NULL OR NEW.sealed = OLD.sealed)
           AND (NEW.sealed_key IS NULL OR (OLD.sealed_key IS NOT NULL AND NEW.sealed IS NOT NULL)) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = '42501';
END $$
"""

# Exactly the function of migration 0004, restored by the downgrade.
_REFUSE_CHANGE_BEFORE = """
        CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
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


def _if_app_role(statement: str) -> str:
    exists = f"EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{_APP_ROLE}')"  # noqa: S608
    return f"DO $$ BEGIN IF {exists} THEN {statement}; END IF; END $$"


def upgrade() -> None:
    op.add_column("events", sa.Column("sealed", sa.LargeBinary(), nullable=True), schema="audit")
    op.add_column("events", sa.Column("sealed_sha256", sa.String(), nullable=True), schema="audit")
    op.add_column("events", sa.Column("sealed_key", sa.LargeBinary(), nullable=True), schema="audit")
    op.add_column("events", sa.Column("key_version", sa.Integer(), nullable=True), schema="audit")
    op.create_check_constraint(
        "ck_audit_events_sealed_sha256",
        "events",
        "sealed_sha256 IS NULL OR sealed_sha256 ~ '^[0-9a-f]{64}$'",
        schema="audit",
    )
    # Key rotation looks for wrapped keys under an old version; erasure for a conversation's sealed events.
    op.create_index(
        "ix_audit_events_tenant_key_version",
        "events",
        ["tenant_id", "key_version"],
        schema="audit",
        postgresql_where=sa.text("sealed_key IS NOT NULL"),
    )
    op.execute(
        "CREATE INDEX ix_audit_events_sealed_conversation ON audit.events "
        "(tenant_id, (details->>'conversation_id')) WHERE sealed_key IS NOT NULL"
    )
    op.execute(_REFUSE_CHANGE)
    op.add_column("orders", sa.Column("fields_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("orders", sa.Column("key_version", sa.Integer(), nullable=True))
    op.create_index("ix_orders_tenant_key_version", "orders", ["tenant_id", "key_version"])
    op.execute(_if_app_role(f"GRANT UPDATE (sealed, sealed_key, key_version) ON TABLE audit.events TO {_APP_ROLE}"))


def downgrade() -> None:
    op.execute(_if_app_role(f"REVOKE UPDATE (sealed, sealed_key, key_version) ON TABLE audit.events FROM {_APP_ROLE}"))
    op.drop_index("ix_orders_tenant_key_version", table_name="orders")
    op.drop_column("orders", "key_version")
    op.drop_column("orders", "fields_sealed")
    op.execute(_REFUSE_CHANGE_BEFORE)
    op.execute("DROP INDEX audit.ix_audit_events_sealed_conversation")
    op.drop_index("ix_audit_events_tenant_key_version", table_name="events", schema="audit")
    op.drop_constraint("ck_audit_events_sealed_sha256", "events", schema="audit")
    for column in ("key_version", "sealed_key", "sealed_sha256", "sealed"):
        op.drop_column("events", column, schema="audit")
