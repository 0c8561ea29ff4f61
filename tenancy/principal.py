"""Who is calling: the principal an authenticated credential becomes, and what it may do in its tenant.

Kept apart from `tenancy.auth` so that what only holds or checks principals (the auth cache, the gateway's
routes) does not depend on how credentials are looked up.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from tenancy.permissions import Permission, permissions_for


class Principal(BaseModel):
    """Who is calling. A principal without a tenant exists only for platform roles."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str | None
    key_id: str | None = None
    # `apikey:<id>` for a key, the identity provider's `sub` for a token: what the audit log names.
    subject: str = ""
    # No default grant: a principal holds exactly the roles its credential carries.
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    platform_role: str | None = None

    @model_validator(mode="after")
    def _tenant_or_platform(self) -> Principal:
        if self.tenant_id is None and self.platform_role is None:
            raise ValueError("a principal without a tenant must hold a platform role")
        return self

    @property
    def permissions(self) -> frozenset[Permission]:
        """Tenant permissions: the roles' grants, narrowed by scopes. None at all without a tenant."""
        if self.tenant_id is None:
            return frozenset()
        return permissions_for(self.roles, self.scopes)


class TenantPrincipal(Principal):
    """A principal acting inside one tenant, which is what every tenant route works with."""

    tenant_id: str


def make_principal(
    *,
    tenant_id: str | None,
    subject: str,
    roles: tuple[str, ...],
    scopes: tuple[str, ...] = (),
    key_id: str | None = None,
    platform_role: str | None = None,
) -> Principal:
    kind: type[Principal] = Principal if tenant_id is None else TenantPrincipal
    return kind(
        tenant_id=tenant_id,
        key_id=key_id,
        subject=subject,
        roles=roles,
        scopes=scopes,
        platform_role=platform_role,
    )
