"""The tenants a person (an identity-provider subject) is a member of, for the console's tenant picker.

Read through the `identity_memberships` security-definer function (migration 0037): the app role sees no
membership outside a bound tenant, and the function answers for one subject only. The subject always comes
from a verified ID token. Only active tenants are listed; a suspended tenant is refused anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from db.database import Database

_MEMBERSHIPS = text("SELECT tenant_id, tenant_name, role FROM identity_memberships(:subject)")


@dataclass(frozen=True)
class Membership:
    tenant_id: str
    tenant_name: str
    role: str


async def memberships_of(db: Database, subject: str) -> list[Membership]:
    """The person's memberships of active tenants, by tenant name."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(_MEMBERSHIPS, {"subject": subject})).all()
    return [Membership(tenant_id=row.tenant_id, tenant_name=row.tenant_name, role=row.role) for row in rows]
