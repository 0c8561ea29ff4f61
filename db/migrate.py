"""Bring a database to the current schema and (re)provision the application role.

Everything happens in one transaction under a transaction-level advisory lock, so concurrent callers (every
replica may call this at start) queue behind each other, a failure leaves nothing half-done, and running it
again changes nothing (the app role's password is only rewritten when it differs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from db.database import to_async_url

APP_ROLE = "aiaas_app"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number; it only has to differ from other advisory locks taken on this database.
_LOCK_KEY = 0x61696161_73_6D6967  # "aiaas" "mig"
_SCRAM_ITERATIONS = 4096
_READ_ONLY_TABLES = frozenset({"tenants"})
_AUTH_FUNCTIONS = (
    "auth_lookup_api_key(text)",
    "auth_touch_api_key(text)",
    "auth_lookup_identity(text, text)",
    "identity_ensure_user(text, text, text)",
    "identity_member_profiles()",
    "identity_memberships(text)",
    "residency_bind_tenant(text)",
    "residency_register_tenant(text, text, text, text, text, text, timestamptz)",
)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config found from this package's location, so it works from any cwd or install."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolation would read a `%` in an escaped password as a placeholder.
        config.set_main_option("sqlalchemy.url", to_async_url(url).replace("%", "%%"))
    return config


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = _SCRAM_ITERATIONS) -> str:
    """A SCRAM-SHA-256 verifier, so the plaintext password never reaches server logs or statement stats."""
    if not password or not password.isascii() or not password.isprintable():
        # Non-ASCII would need SASLprep to agree with the client's normalisation; refusing is simpler.
        raise ValueError("the app database password must be non-empty printable ASCII")
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    stored_key = hashlib.sha256(client_key).digest()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _verifier_matches(stored: str | None, password: str) -> bool:
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$[A-Za-z0-9+/=:]+", stored or "")
    if not match:
        return False
    again = scram_verifier(password, salt=base64.b64decode(match[2]), iterations=int(match[1]))
    return hmac.compare_digest(again.encode(), (stored or "").encode())


async def _current_verifier(conn: AsyncConnection) -> str | None:
    # Only a superuser can read pg_authid; others just set the password every time.
    if not await conn.scalar(text("SELECT has_table_privilege('pg_authid', 'SELECT')")):
        return None
    return await conn.scalar(text("SELECT rolpassword FROM pg_authid WHERE rolname = :role"), {"role": APP_ROLE})


async def _ensure_app_role(conn: AsyncConnection, app_password: str) -> None:
    # Roles are cluster-wide and the advisory lock is per database, so a migration of another database in
    # the same cluster may create the role at the same moment: swallow exactly that race.
    await conn.execute(
        text(
            f"DO $$ BEGIN CREATE ROLE {APP_ROLE} LOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        )
    )
    if not _verifier_matches(await _current_verifier(conn), app_password):
        verifier = scram_verifier(app_password)
        if not re.fullmatch(r"[A-Za-z0-9+/=:$-]+", verifier):
            raise AssertionError("unexpected characters in a SCRAM verifier")
        # Not through text(): the verifier's `=:` would read as a bind parameter.
        await conn.exec_driver_sql(f"ALTER ROLE {APP_ROLE} WITH LOGIN PASSWORD '{verifier}'")
    elevated = await conn.scalar(
        text(
            "SELECT NOT rolcanlogin OR rolsuper OR rolbypassrls OR rolcreatedb OR rolcreaterole "
            "OR rolreplication FROM pg_roles WHERE rolname = :role"
        ),
        {"role": APP_ROLE},
    )
    if elevated:
        # Only issued when needed: a non-superuser admin may not even name SUPERUSER or BYPASSRLS.
        await conn.execute(
            text(f"ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION")
        )


def _upgrade_to_head(sync_conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    command.upgrade(config, "head")


_TENANT_TABLES_SQL = text(
    """
    SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity
           AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
      AND (c.relname = 'tenants' OR EXISTS (
            SELECT 1 FROM pg_attribute a
            WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
    ORDER BY c.relname
    """
)


async def _grant_app_role(conn: AsyncConnection) -> None:
    grant_connect = f"GRANT CONNECT ON DATABASE %I TO {APP_ROLE}"
    await conn.execute(text(f"DO $$ BEGIN EXECUTE format('{grant_connect}', current_database()); END $$"))
    await conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
    rows = (await conn.execute(_TENANT_TABLES_SQL)).all()
    unprotected = [name for name, protected in rows if not protected]
    if unprotected:
        # Granting first and protecting later would open a window in which the app sees every tenant.
        raise RuntimeError(f"refusing to grant on tables without forced row-level security: {unprotected}")
    for name, _protected in rows:
        privileges = "SELECT" if name in _READ_ONLY_TABLES else "SELECT, INSERT, UPDATE, DELETE"
        await conn.execute(text(f'GRANT {privileges} ON TABLE public."{name}" TO {APP_ROLE}'))
    await conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}"))
    for signature in _AUTH_FUNCTIONS:
        await conn.execute(text(f"REVOKE ALL ON FUNCTION public.{signature} FROM PUBLIC"))
        await conn.execute(text(f"GRANT EXECUTE ON FUNCTION public.{signature} TO {APP_ROLE}"))


async def _check_app_role_owns_nothing(conn: AsyncConnection) -> None:
    owned = await conn.scalar(
        text("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = :role"),
        {"role": APP_ROLE},
    )
    if owned:
        # An owner is exempt from row-level security unless forced, and may disable it: never run as one.
        raise RuntimeError(f"role {APP_ROLE} owns {owned} relations; reassign them to the admin role")


async def _claim_region(conn: AsyncConnection, region: str) -> None:
    # A database holds one region for life: moving it would move tenants' data without moving the tenants.
    held = await conn.scalar(text("SELECT region FROM database_region"))
    if held is None:
        await conn.execute(text("INSERT INTO database_region (region) VALUES (:r)"), {"r": region})
    elif held != region:
        raise RuntimeError(f"this database holds region {held!r}; it cannot become {region!r}")


async def migrate(admin_url: str, app_password: str, *, region: str | None = None) -> None:
    """Create or update the schema and the app role; safe to call concurrently and repeatedly.

    With `region`, the database becomes that region's data plane (`db.regions`): it then refuses the rows
    of any tenant whose home is elsewhere.
    """
    engine = create_async_engine(to_async_url(admin_url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            await _ensure_app_role(conn, app_password)
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            await conn.run_sync(_upgrade_to_head)
            if region is not None:
                await _claim_region(conn, region)
            await _grant_app_role(conn)
            await _check_app_role_owns_nothing(conn)
    finally:
        await engine.dispose()
