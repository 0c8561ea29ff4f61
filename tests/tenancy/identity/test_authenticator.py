"""Authentication against the real database, as the app role: JWT principals, key roles, rotation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from db.database import Database
from tenancy import api_keys
from tenancy.auth import ApiKeyAuthenticator
from tenancy.jwt import JwtConfig, JwtVerifier, issue_token
from tenancy.principal import TenantPrincipal
from tenancy.tenants import ensure_user, set_member_role, set_platform_role
from tests.tenancy.conftest import PEPPER

SECRET = "authenticator-tests-secret-" + "z" * 32


@pytest.fixture
async def auth(app_db: Database) -> AsyncIterator[ApiKeyAuthenticator]:
    authenticator = ApiKeyAuthenticator(app_db, PEPPER, cache_seconds=0)
    verifier = JwtVerifier(JwtConfig(algorithms=frozenset({"HS256"}), secret=SECRET))
    authenticator.use_jwt(verifier)
    yield authenticator
    await authenticator.close()
    await verifier.close()


def _token(subject: str | None = None, **claims: object) -> str:
    return issue_token(SECRET, subject=subject or f"user-{uuid.uuid4().hex[:8]}", **claims)  # type: ignore[arg-type]


async def _admin(db: Database, sql: str, **params: object) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def test_a_token_with_tenant_and_roles(auth: ApiKeyAuthenticator, two_tenants: tuple[str, str]) -> None:
    tenant, _ = two_tenants
    principal = await auth.authenticate(_token("alice", tenant_id=tenant, roles=("viewer", "made-up")))
    assert isinstance(principal, TenantPrincipal)
    assert (principal.tenant_id, principal.subject, principal.key_id) == (tenant, "alice", None)
    assert principal.roles == ("viewer",)  # unknown role names grant nothing and are dropped
    assert principal.platform_role is None


async def test_roles_come_from_the_membership_when_the_token_has_none(
    auth: ApiKeyAuthenticator, two_tenants: tuple[str, str], admin_db: Database, app_db: Database
) -> None:
    tenant, other = two_tenants
    subject = f"member-{uuid.uuid4().hex[:8]}"
    async with admin_db.admin_session() as session:
        user_id = await ensure_user(session, subject=subject)
    async with app_db.tenant_session(tenant) as session:
        await set_member_role(session, tenant_id=tenant, user_id=user_id, role="operator", actor="test")
    member = await auth.authenticate(_token(subject, tenant_id=tenant))
    assert member is not None and member.roles == ("operator",)
    # In a tenant where the user is no member, the token authenticates but grants nothing.
    stranger = await auth.authenticate(_token(subject, tenant_id=other))
    assert stranger is not None and stranger.roles == () and stranger.permissions == frozenset()


async def test_unknown_or_suspended_tenants_refuse(
    auth: ApiKeyAuthenticator, two_tenants: tuple[str, str], admin_db: Database
) -> None:
    tenant, _ = two_tenants
    assert await auth.authenticate(_token(tenant_id=str(uuid.uuid4()), roles=("owner",))) is None
    token = _token(tenant_id=tenant, roles=("owner",))
    assert await auth.authenticate(token) is not None
    await _admin(admin_db, "UPDATE tenants SET status = 'suspended' WHERE id = :t", t=tenant)
    assert await auth.authenticate(token) is None


async def test_platform_roles_from_claim_or_table(auth: ApiKeyAuthenticator, admin_db: Database) -> None:
    claimed = await auth.authenticate(_token(platform_role="platform_operator"))
    assert claimed is not None and not isinstance(claimed, TenantPrincipal)
    assert claimed.platform_role == "platform_operator" and claimed.tenant_id is None
    subject = f"admin-{uuid.uuid4().hex[:8]}"
    assert await auth.authenticate(_token(subject)) is None  # neither tenant nor platform role
    async with admin_db.admin_session() as session:
        await set_platform_role(session, subject=subject, role="platform_admin")
    listed = await auth.authenticate(_token(subject))
    assert listed is not None and listed.platform_role == "platform_admin"
    assert await auth.authenticate(_token(platform_role="root")) is None


async def test_cached_principals_of_a_tenant_are_forgotten_together(
    app_db: Database, admin_db: Database, two_tenants: tuple[str, str]
) -> None:
    tenant, other = two_tenants
    cached = ApiKeyAuthenticator(app_db, PEPPER, cache_seconds=60)
    cached.use_jwt(JwtVerifier(JwtConfig(algorithms=frozenset({"HS256"}), secret=SECRET)))
    try:
        async with app_db.tenant_session(tenant) as session:
            issued = await api_keys.issue_key(
                session, tenant_id=tenant, name="k", role="viewer", pepper=PEPPER, actor="t"
            )
        async with app_db.tenant_session(other) as session:
            bystander = await api_keys.issue_key(
                session, tenant_id=other, name="k", role="viewer", pepper=PEPPER, actor="t"
            )
        token = _token(tenant_id=tenant, roles=("owner",))
        for credential in (issued.key, token, bystander.key):
            assert await cached.authenticate(credential) is not None
        await _admin(admin_db, "UPDATE tenants SET status = 'suspended' WHERE id = :t", t=tenant)
        # Served from the cache until told otherwise, which is what the Redis message does on every replica.
        assert await cached.authenticate(issued.key) is not None
        cached.forget(tenant_id=tenant)
        assert await cached.authenticate(issued.key) is None
        assert await cached.authenticate(token) is None
        assert await cached.authenticate(bystander.key) is not None
    finally:
        await cached.close()


async def test_key_role_and_rotation_overlap(
    auth: ApiKeyAuthenticator, app_db: Database, two_tenants: tuple[str, str]
) -> None:
    tenant, _ = two_tenants
    async with app_db.tenant_session(tenant) as session:
        old = await api_keys.issue_key(
            session,
            tenant_id=tenant,
            name="ci",
            role="developer",
            scopes=["conversations:read"],
            pepper=PEPPER,
            actor="t",
        )
    principal = await auth.authenticate(old.key)
    assert principal is not None
    assert (principal.roles, principal.scopes, principal.subject) == (
        ("developer",),
        ("conversations:read",),
        f"apikey:{old.row.id}",
    )
    async with app_db.tenant_session(tenant) as session:
        row = await api_keys.find_key(session, old.row.id, for_update=True)
        assert row is not None
        new = await api_keys.rotate_key(session, row, overlap_seconds=1, pepper=PEPPER, actor="t")
    assert new.row.rotated_from == old.row.id and new.row.role == "developer"
    assert new.row.scopes == ["conversations:read"]
    assert await auth.authenticate(old.key) is not None
    assert await auth.authenticate(new.key) is not None
    async with app_db.tenant_session(tenant) as session:
        row = await api_keys.find_key(session, old.row.id, for_update=True)
        assert row is not None
        with pytest.raises(api_keys.KeyNotActive, match="already rotated"):
            await api_keys.rotate_key(session, row, overlap_seconds=1, pepper=PEPPER, actor="t")
    await asyncio.sleep(1.2)
    assert await auth.authenticate(old.key) is None
    assert await auth.authenticate(new.key) is not None


async def test_key_and_role_changes_are_audited(
    app_db: Database, admin_db: Database, two_tenants: tuple[str, str]
) -> None:
    from tenancy.audit_read import list_events, verify_chain

    tenant, _ = two_tenants
    async with admin_db.admin_session() as session:
        user_id = await ensure_user(session, subject=f"audited-{uuid.uuid4().hex[:8]}")
    async with app_db.tenant_session(tenant) as session:
        issued = await api_keys.issue_key(session, tenant_id=tenant, name="a", role="viewer", pepper=PEPPER, actor="u1")
        rotated = await api_keys.rotate_key(session, issued.row, overlap_seconds=0, pepper=PEPPER, actor="u2")
        assert await api_keys.revoke_key(session, rotated.row, actor="u3")
        assert not await api_keys.revoke_key(session, rotated.row, actor="u3")  # already revoked: no event
        await set_member_role(session, tenant_id=tenant, user_id=user_id, role="viewer", actor="u4")
        await set_member_role(session, tenant_id=tenant, user_id=user_id, role="admin", actor="u4")
    async with app_db.tenant_session(tenant) as session:
        events = list(reversed(await list_events(session, tenant)))
        assert (await verify_chain(session, tenant)).ok
    assert [(e.action, e.actor, e.target) for e in events] == [
        ("api_key.created", "u1", issued.row.id),
        ("api_key.rotated", "u2", issued.row.id),
        ("api_key.revoked", "u3", rotated.row.id),
        ("member.added", "u4", user_id),
        ("member.role_changed", "u4", user_id),
    ]
    assert events[1].details["new_key_id"] == rotated.row.id
    assert events[4].details == {"from": "viewer", "to": "admin"}
    assert all(issued.key not in str(e.details) and rotated.key not in str(e.details) for e in events)
