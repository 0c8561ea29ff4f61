"""Old audit events are re-anchored: their clear customer details move into the sealed part, signed.

Events written before 0033 keep an approval's arguments, a decision's note (or an invitation's address) in
`details`, and their hashes commit to those values. `audit.reanchor` is the one way to change them: for the
bound tenant, it replaces such keys of `details` by a sealed part and rewrites `prev_hash` and `hash` from the
first changed event to the head of the chain, and stores in `audit.reanchors` what it replaced: the hashes
before and after (computed here from the rows, not taken from the caller), and the statement the platform
signed with the tenant's Ed25519 key (`privacy_signing_keys`), which must state exactly this change.

The append-only trigger lets such an UPDATE through only inside that function (the transaction-local
`aiaas.audit_reanchor_tenant` it sets, for its tenant), only dropping the keys `arguments`, `note` and `email`
from `details` of an event without a sealed part while adding one whose digest matches, or rewriting hashes;
actor, action, target, time, sequence and every other detail stay. The app role may not UPDATE those columns
itself, and may only read `audit.reanchors`, which nobody changes (its purge with the tenant's audit log
aside).

Revision ID: 0041
Revises: 0040
"""

# ruff: noqa: S608  # function bodies assembled from this module's constants; nothing comes from outside
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

_APP_ROLE = "aiaas_app"
_TENANT = "current_setting('app.tenant_id', true)"
_HASH = "'^[0-9a-f]{64}$'"
_MUTABLE = "ARRAY['sealed', 'sealed_key', 'key_version']"
_REANCHORED = "ARRAY['details', 'prev_hash', 'hash', 'sealed', 'sealed_sha256', 'sealed_key', 'key_version']"
# The detail keys pre-0033 writers kept in clear and post-0033 ones pass as `private`.
_PRIVATE_KEYS = "ARRAY['arguments', 'note', 'email']"
# tenancy.audit.LOCK_CLASS: the lock appenders of the tenant's chain queue on.
_LOCK_CLASS = 0x61756474

_REFUSE_CHANGE = f"""
CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_removed text[];
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
        -- Inside audit.reanchor only: clear customer keys move into a new sealed part, hashes are rewritten.
        IF OLD.tenant_id = current_setting('aiaas.audit_reanchor_tenant', true)
           AND (to_jsonb(NEW) - {_REANCHORED}) = (to_jsonb(OLD) - {_REANCHORED}) THEN
            v_removed := ARRAY(SELECT jsonb_object_keys(OLD.details) EXCEPT SELECT jsonb_object_keys(NEW.details));
            IF NEW.details = OLD.details - v_removed AND (
                (cardinality(v_removed) = 0 AND NEW.sealed IS NOT DISTINCT FROM OLD.sealed
                 AND NEW.sealed_sha256 IS NOT DISTINCT FROM OLD.sealed_sha256
                 AND NEW.sealed_key IS NOT DISTINCT FROM OLD.sealed_key
                 AND NEW.key_version IS NOT DISTINCT FROM OLD.key_version)
                OR (cardinality(v_removed) > 0 AND v_removed <@ {_PRIVATE_KEYS} AND OLD.sealed_sha256 IS NULL
                    AND NEW.sealed IS NOT NULL AND NEW.sealed_key IS NOT NULL
                    AND NEW.sealed_sha256 = encode(sha256(NEW.sealed), 'hex'))
            ) THEN
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = '42501';
END $$
"""

# Exactly the function of migration 0033, restored by the downgrade.
_REFUSE_CHANGE_BEFORE = f"""
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

_REFUSE_REANCHOR_CHANGE = """
CREATE FUNCTION audit.refuse_reanchor_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.tenant_id = current_setting('aiaas.audit_purge_tenant', true) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit re-anchors are append-only (% refused)', TG_OP USING ERRCODE = '42501';
END $$
"""

_REANCHOR_SIGNATURE = (
    "audit.reanchor(p_tenant text, p_first bigint, p_hashes text[], p_seqs bigint[], p_details jsonb[],"
    " p_sealed bytea[], p_sealed_key bytea[], p_key_version integer[], p_statement jsonb, p_key_id text,"
    " p_signature text)"
)
_REANCHOR_TYPES = (
    "audit.reanchor(text, bigint, text[], bigint[], jsonb[], bytea[], bytea[], integer[], jsonb, text, text)"
)

_REANCHOR = f"""
CREATE FUNCTION {_REANCHOR_SIGNATURE}
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_head bigint;
    v_n integer := cardinality(p_hashes);
    v_prev text;
    v_old text;
    v_old_head text;
    v_new text := array_to_string(p_hashes, '');
    v_changed bigint;
    v_id bigint;
BEGIN
    PERFORM public.lifecycle_require_bound(p_tenant);
    PERFORM pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(p_tenant));
    SELECT max(seq) INTO v_head FROM audit.events WHERE tenant_id = p_tenant;
    IF v_head IS NULL OR p_first < 1 OR v_n IS NULL OR p_first + v_n - 1 <> v_head
       OR cardinality(p_seqs) IS NULL OR NOT (p_first = ANY(p_seqs))
       OR EXISTS (SELECT 1 FROM unnest(p_seqs) AS s(seq) WHERE s.seq < p_first OR s.seq > v_head) THEN
        RAISE EXCEPTION 're-anchoring re-hashes from its first changed event to the head' USING ERRCODE = '22023';
    END IF;
    v_prev := CASE WHEN p_first = 1 THEN repeat('0', 64)
                   ELSE (SELECT hash FROM audit.events WHERE tenant_id = p_tenant AND seq = p_first - 1) END;
    SELECT string_agg(hash, '' ORDER BY seq) INTO v_old
    FROM audit.events WHERE tenant_id = p_tenant AND seq >= p_first;
    SELECT hash INTO v_old_head FROM audit.events WHERE tenant_id = p_tenant AND seq = v_head;
    IF p_statement->>'tenant_id' IS DISTINCT FROM p_tenant
       OR p_statement->>'first_seq' IS DISTINCT FROM p_first::text
       OR p_statement->>'last_seq' IS DISTINCT FROM v_head::text
       OR p_statement->>'prev_hash' IS DISTINCT FROM v_prev
       OR p_statement->>'old_head_hash' IS DISTINCT FROM v_old_head
       OR p_statement->>'new_head_hash' IS DISTINCT FROM p_hashes[v_n]
       OR p_statement->>'old_hashes_sha256' IS DISTINCT FROM encode(sha256(decode(v_old, 'hex')), 'hex')
       OR p_statement->>'new_hashes_sha256' IS DISTINCT FROM encode(sha256(decode(v_new, 'hex')), 'hex')
       OR p_statement->>'signed_with' IS DISTINCT FROM p_key_id
       OR NOT EXISTS (SELECT 1 FROM public.privacy_signing_keys
                      WHERE tenant_id = p_tenant AND key_id = p_key_id) THEN
        RAISE EXCEPTION 'the re-anchor statement does not state this change' USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('aiaas.audit_reanchor_tenant', p_tenant, true);
    UPDATE audit.events AS e
    SET details = u.details, sealed = u.sealed, sealed_sha256 = encode(sha256(u.sealed), 'hex'),
        sealed_key = u.sealed_key, key_version = u.key_version
    FROM unnest(p_seqs, p_details, p_sealed, p_sealed_key, p_key_version)
         AS u(seq, details, sealed, sealed_key, key_version)
    WHERE e.tenant_id = p_tenant AND e.seq = u.seq;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    IF v_changed <> cardinality(p_seqs) THEN
        RAISE EXCEPTION 'a re-anchored event appears twice or not at all' USING ERRCODE = '22023';
    END IF;
    UPDATE audit.events AS e
    SET hash = h.hash, prev_hash = CASE WHEN h.n = 1 THEN v_prev ELSE p_hashes[h.n - 1] END
    FROM unnest(p_hashes) WITH ORDINALITY AS h(hash, n)
    WHERE e.tenant_id = p_tenant AND e.seq = p_first + h.n - 1;
    PERFORM set_config('aiaas.audit_reanchor_tenant', '', true);
    INSERT INTO audit.reanchors (tenant_id, first_seq, last_seq, prev_hash, old_head_hash, new_head_hash,
                                 old_hashes, new_hashes, statement, key_id, signature)
    VALUES (p_tenant, p_first, v_head, v_prev, v_old_head, p_hashes[v_n], decode(v_old, 'hex'),
            decode(v_new, 'hex'), p_statement, p_key_id, p_signature)
    RETURNING id INTO v_id;
    RETURN v_id;
END $$
"""

_PURGE = """
CREATE OR REPLACE FUNCTION audit.purge_tenant(p_id text)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE n bigint;
BEGIN
    PERFORM public.lifecycle_require_bound(p_id);
    IF NOT EXISTS (SELECT 1 FROM public.tenants WHERE id = p_id AND status = 'offboarding') THEN
        RAISE EXCEPTION 'only an offboarding tenant''s audit log may be purged' USING ERRCODE = '42501';
    END IF;
    PERFORM set_config('aiaas.audit_purge_tenant', p_id, true);
    {reanchors}
    DELETE FROM audit.events WHERE tenant_id = p_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('aiaas.audit_purge_tenant', '', true);
    RETURN n;
END $$
"""


def _if_app_role(statement: str) -> str:
    exists = f"EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{_APP_ROLE}')"
    return f"DO $$ BEGIN IF {exists} THEN {statement}; END IF; END $$"


def _create_reanchors() -> None:
    op.create_table(
        "reanchors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("old_head_hash", sa.String(), nullable=False),
        sa.Column("new_head_hash", sa.String(), nullable=False),
        # Every hash of first_seq..last_seq before and after, 32 bytes each, in order.
        sa.Column("old_hashes", sa.LargeBinary(), nullable=False),
        sa.Column("new_hashes", sa.LargeBinary(), nullable=False),
        sa.Column("statement", postgresql.JSONB(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.CheckConstraint("first_seq > 0 AND last_seq >= first_seq", name="ck_audit_reanchors_range"),
        sa.CheckConstraint(
            f"prev_hash ~ {_HASH} AND old_head_hash ~ {_HASH} AND new_head_hash ~ {_HASH}",
            name="ck_audit_reanchors_hashes",
        ),
        schema="audit",
    )
    op.create_index("ix_audit_reanchors_tenant_id", "reanchors", ["tenant_id", "id"], schema="audit")
    op.execute("ALTER TABLE audit.reanchors ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit.reanchors FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON audit.reanchors "
        f"USING (tenant_id = {_TENANT}) WITH CHECK (tenant_id = {_TENANT})"
    )
    op.execute(_REFUSE_REANCHOR_CHANGE)
    op.execute(
        "CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON audit.reanchors "
        "FOR EACH ROW EXECUTE FUNCTION audit.refuse_reanchor_change()"
    )
    op.execute(
        "CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON audit.reanchors "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_reanchor_change()"
    )
    op.execute("REVOKE ALL ON TABLE audit.reanchors FROM PUBLIC")
    op.execute(_if_app_role(f"GRANT SELECT ON TABLE audit.reanchors TO {_APP_ROLE}"))


def upgrade() -> None:
    _create_reanchors()
    op.execute(_REFUSE_CHANGE)
    op.execute(_PURGE.format(reanchors="DELETE FROM audit.reanchors WHERE tenant_id = p_id;"))
    op.execute(_REANCHOR)
    op.execute(f"REVOKE ALL ON FUNCTION {_REANCHOR_TYPES} FROM PUBLIC")
    op.execute(_if_app_role(f"GRANT EXECUTE ON FUNCTION {_REANCHOR_TYPES} TO {_APP_ROLE}"))


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {_REANCHOR_TYPES}")
    op.execute(_PURGE.format(reanchors=""))
    op.execute(_REFUSE_CHANGE_BEFORE)
    op.execute("DROP TABLE audit.reanchors")
    op.execute("DROP FUNCTION audit.refuse_reanchor_change()")
