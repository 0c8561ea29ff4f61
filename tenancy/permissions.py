"""Roles and the permissions they grant: the one table every authorization decision reads.

Tenant roles act inside one tenant; platform roles act on the platform itself (every tenant, lifecycle,
operations) and grant no tenant permission on their own. A key or token may carry scopes, which only ever
narrow what its role grants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Permission(StrEnum):
    CONVERSATIONS_READ = "conversations:read"
    CONVERSATIONS_WRITE = "conversations:write"
    KEYS_MANAGE = "keys:manage"
    MEMBERS_MANAGE = "members:manage"
    TENANT_READ = "tenant:read"
    TENANT_WRITE = "tenant:write"
    AUDIT_READ = "audit:read"
    APPROVALS_DECIDE = "approvals:decide"
    # Agent definitions and which tools a tenant enables.
    AGENTS_MANAGE = "agents:manage"
    # Channels customers write from (SMS, Slack, WhatsApp, email, the widget) and their provider credentials.
    CHANNELS_MANAGE = "channels:manage"


class TenantRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    OPERATOR = "operator"
    VIEWER = "viewer"


class PlatformRole(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    PLATFORM_OPERATOR = "platform_operator"


TENANT_ROLES: tuple[str, ...] = tuple(role.value for role in TenantRole)
PLATFORM_ROLES: tuple[str, ...] = tuple(role.value for role in PlatformRole)

_READ = frozenset({Permission.CONVERSATIONS_READ, Permission.TENANT_READ})

ROLE_PERMISSIONS: Mapping[str, frozenset[Permission]] = {
    TenantRole.OWNER: frozenset(Permission),
    # Everything but changing the tenant itself (plan, region, offboarding), which stays with its owners.
    TenantRole.ADMIN: frozenset(Permission) - {Permission.TENANT_WRITE},
    TenantRole.DEVELOPER: _READ | {Permission.CONVERSATIONS_WRITE},
    # Watches runs and decides the approvals that tools ask for, but does not talk to customers.
    TenantRole.OPERATOR: _READ | {Permission.APPROVALS_DECIDE, Permission.AUDIT_READ},
    TenantRole.VIEWER: _READ,
}

# What each platform role may act as: an administrator can do whatever an operator can.
PLATFORM_ROLE_GRANTS: Mapping[str, frozenset[PlatformRole]] = {
    PlatformRole.PLATFORM_ADMIN: frozenset(PlatformRole),
    PlatformRole.PLATFORM_OPERATOR: frozenset({PlatformRole.PLATFORM_OPERATOR}),
}


def parse_scopes(scopes: Iterable[str]) -> frozenset[Permission]:
    """The permissions named by `scopes`; raises ValueError on a name that is not a permission."""
    found: set[Permission] = set()
    for scope in scopes:
        try:
            found.add(Permission(scope))
        except ValueError:
            raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(Permission)}") from None
    return frozenset(found)


def permissions_for(roles: Iterable[str], scopes: Iterable[str] = ()) -> frozenset[Permission]:
    """What `roles` grant, narrowed to `scopes` when any are given. Unknown names grant nothing."""
    granted: frozenset[Permission] = frozenset().union(*(ROLE_PERMISSIONS.get(role, frozenset()) for role in roles))
    wanted = set(scopes)
    if not wanted:
        return granted
    # An unknown scope narrows to nothing rather than failing: a stored key must keep authenticating even
    # if a scope it carries is later retired.
    return granted & frozenset(permission for permission in Permission if permission.value in wanted)


def acts_as(platform_role: str | None, required: PlatformRole) -> bool:
    if platform_role is None:
        return False
    return required in PLATFORM_ROLE_GRANTS.get(platform_role, frozenset())


def may_grant(held: frozenset[Permission], role: str, scopes: Iterable[str] = ()) -> bool:
    """Whether a holder of `held` may issue or manage a key with `role` and `scopes`.

    Nobody hands out (or revokes) more than they hold themselves: an admin can neither mint an owner key
    nor revoke one.
    """
    return permissions_for((role,), scopes) <= held
