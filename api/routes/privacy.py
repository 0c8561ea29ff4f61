"""`/v1/privacy`: the caller's tenant's privacy policy at the model-provider boundary.

`provider_mode` is `pseudonymise` (the default: `<EMAIL_1>`-style tags go to an external model provider and
the values come back in the answer), `redact` (`[email]`, nothing comes back) or `off`. `provider_entities`
lists the entities that count (`null`: every one the detector knows). `PUT` replaces the policy and is
audited; only owners may change it (`tenant:write`). Workers read it within a few seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import StateDep, requires
from core.pii import ALL, Entity
from policies.privacy import PrivacyPolicy, ProviderMode, load_policy, save_policy
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])

PolicyReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
PolicyWriter = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]


class PrivacyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_mode: ProviderMode = ProviderMode.PSEUDONYMISE
    provider_entities: list[Entity] | None = Field(default=None, max_length=len(Entity))


class PrivacyOut(BaseModel):
    provider_mode: ProviderMode
    provider_entities: list[Entity]
    updated_at: datetime | None


def _out(policy: PrivacyPolicy) -> PrivacyOut:
    return PrivacyOut(
        provider_mode=policy.provider_mode,
        provider_entities=sorted(policy.provider_entities, key=lambda e: e.value),
        updated_at=policy.updated_at,
    )


@router.get("", response_model=PrivacyOut)
async def read_privacy(principal: PolicyReader, state: StateDep) -> PrivacyOut:
    async with state.db.tenant_session(principal.tenant_id) as session:
        return _out(await load_policy(session, principal.tenant_id))


@router.put("", response_model=PrivacyOut)
async def replace_privacy(body: PrivacyIn, principal: PolicyWriter, state: StateDep) -> PrivacyOut:
    entities = ALL if body.provider_entities is None else frozenset(body.provider_entities)
    async with state.db.tenant_session(principal.tenant_id) as session:
        saved = await save_policy(session, principal.tenant_id, PrivacyPolicy(body.provider_mode, entities))
        # In the same transaction: the change and its audit record commit together or not at all.
        await record_event(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.subject,
            action="privacy.updated",
            target="privacy",
            details={"provider_mode": saved.provider_mode.value, "provider_entities": sorted(entities)},
        )
    return _out(saved)
