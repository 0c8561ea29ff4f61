"""The role table and the rules built on it: no database needed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tenancy.permissions import (
    PLATFORM_ROLES,
    ROLE_PERMISSIONS,
    TENANT_ROLES,
    Permission,
    PlatformRole,
    TenantRole,
    acts_as,
    may_grant,
    parse_scopes,
    permissions_for,
)
from tenancy.principal import Principal, TenantPrincipal, make_principal

P = Permission


def test_every_tenant_role_has_an_entry_and_reads() -> None:
    assert set(ROLE_PERMISSIONS) == set(TENANT_ROLES) == {"owner", "admin", "developer", "operator", "viewer"}
    for role in TENANT_ROLES:
        assert {P.CONVERSATIONS_READ, P.TENANT_READ} <= ROLE_PERMISSIONS[role]


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        (TenantRole.OWNER, set(Permission), set()),
        (TenantRole.ADMIN, {P.KEYS_MANAGE, P.MEMBERS_MANAGE, P.AUDIT_READ}, {P.TENANT_WRITE}),
        (TenantRole.DEVELOPER, {P.CONVERSATIONS_WRITE}, {P.KEYS_MANAGE, P.MEMBERS_MANAGE, P.AUDIT_READ}),
        (TenantRole.OPERATOR, {P.APPROVALS_DECIDE, P.AUDIT_READ}, {P.CONVERSATIONS_WRITE, P.KEYS_MANAGE}),
        (TenantRole.VIEWER, {P.CONVERSATIONS_READ}, {P.CONVERSATIONS_WRITE, P.KEYS_MANAGE, P.APPROVALS_DECIDE}),
    ],
)
def test_role_matrix(role: TenantRole, allowed: set[Permission], denied: set[Permission]) -> None:
    granted = permissions_for([role])
    assert allowed <= granted
    assert not denied & granted


def test_scopes_only_narrow() -> None:
    assert permissions_for(["viewer"], ["conversations:write"]) == frozenset()
    assert permissions_for(["owner"], ["conversations:read"]) == {P.CONVERSATIONS_READ}
    # A retired scope name narrows to nothing instead of breaking the key.
    assert permissions_for(["owner"], ["retired:scope"]) == frozenset()
    assert permissions_for(["no-such-role"]) == frozenset()
    assert permissions_for(["viewer", "developer"]) == ROLE_PERMISSIONS["developer"]


def test_parse_scopes_names_the_bad_one() -> None:
    assert parse_scopes(["keys:manage", "keys:manage"]) == {P.KEYS_MANAGE}
    with pytest.raises(ValueError, match="everything"):
        parse_scopes(["everything"])


def test_platform_admin_implies_operator() -> None:
    assert acts_as("platform_admin", PlatformRole.PLATFORM_OPERATOR)
    assert acts_as("platform_admin", PlatformRole.PLATFORM_ADMIN)
    assert acts_as("platform_operator", PlatformRole.PLATFORM_OPERATOR)
    assert not acts_as("platform_operator", PlatformRole.PLATFORM_ADMIN)
    assert not acts_as(None, PlatformRole.PLATFORM_OPERATOR)
    assert not acts_as("owner", PlatformRole.PLATFORM_OPERATOR)
    assert set(PLATFORM_ROLES) == {"platform_admin", "platform_operator"}


def test_nobody_grants_more_than_they_hold() -> None:
    admin = permissions_for(["admin"])
    assert may_grant(admin, "developer")
    assert may_grant(admin, "admin")
    assert not may_grant(admin, "owner")
    # Narrowed by scopes, even an owner key holds no more than the admin does.
    assert may_grant(admin, "owner", ["conversations:read"])
    assert not may_grant(permissions_for(["developer"]), "operator")


def test_principal_without_tenant_needs_a_platform_role() -> None:
    with pytest.raises(ValidationError):
        Principal(tenant_id=None, subject="someone")
    platform = make_principal(tenant_id=None, subject="ops", roles=(), platform_role="platform_operator")
    assert not isinstance(platform, TenantPrincipal)
    assert platform.permissions == frozenset()
    tenant = make_principal(tenant_id="t1", subject="apikey:k", roles=("viewer",), key_id="k")
    assert isinstance(tenant, TenantPrincipal)
    assert tenant.permissions == ROLE_PERMISSIONS["viewer"]
    with pytest.raises(ValidationError):
        TenantPrincipal(tenant_id=None, subject="x", platform_role="platform_admin")  # type: ignore[arg-type]
