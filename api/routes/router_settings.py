"""`/v1/router/settings`: how the caller's tenant's turns are routed to models.

A tenant may pin one model (every turn uses it, unless the budget forces the small tier), forbid models
(never chosen, fallbacks included) and set its quality target (the share of the large tier's quality the
router must keep; empty: its plan's). Every model named must be in the model catalog and process data in the
tenant's data region: anything else is refused with 422 `model_not_in_region`, so a configuration can never
send a tenant's data out of its region. `PUT` replaces all three and is audited; only owners may change it
(`tenant:write`). A canary model answers `canary_share` of the tenant's conversations (the same ones on every
turn) when they are routed to its tier; it too must be in the region. `early_exit` (off by default) answers an
exact repeat of a recent first question, with the agent and the knowledge unchanged, from a short-lived cache
without a model call (`router.early_exit`); `tool_answers` (off by default) lets a tool with an answer template
end a turn with its rendered output, without a model call to word it. The answer lists the models the region
allows, with their tier.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import StateDep, requires
from api.errors import ApiError
from contracts.conversation import Tier
from router import settings_store
from router.catalog import Catalog, ModelNotInRegion, catalog_at
from router.settings_store import MAX_FORBIDDEN, RouterSettings, TenantRouting
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/router", tags=["router"])

Reader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
Writer = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$")]


class RouterSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pinned_model: ModelName | None = None
    forbidden_models: list[ModelName] = Field(default_factory=list, max_length=MAX_FORBIDDEN)
    quality_target: float | None = Field(default=None, gt=0, le=1)
    canary_model: ModelName | None = None
    canary_share: float = Field(default=0.0, ge=0, le=1, description="share of conversations, sticky per conversation")
    early_exit: StrictBool = Field(
        default=False, description="answer an exact repeat of a recent first question from the cache, no model call"
    )
    tool_answers: StrictBool = Field(
        default=False, description="end a turn with a templated tool's rendered result, no model call to word it"
    )


class AllowedModel(BaseModel):
    name: str
    tier: Tier


class RouterSettingsOut(RouterSettingsIn):
    region: str
    plan: str
    allowed_models: list[AllowedModel]
    tier_models: dict[str, str] = Field(
        default_factory=dict, description="the tenant's own model per tier (a promoted canary's); PUT leaves it"
    )
    threshold: float | None = Field(
        default=None, description="the tenant's own routing threshold (a promoted canary's); PUT leaves it"
    )


def not_in_region(exc: ModelNotInRegion) -> ApiError:
    """The 422 for a model the tenant's data region forbids, wherever a route names a model."""
    return ApiError(
        422,
        "model_not_in_region",
        f"{exc}; GET /v1/router/settings lists the models this tenant may use",
        {"model": exc.model, "region": exc.region},
    )


def _out(routing: TenantRouting, catalog: Catalog) -> RouterSettingsOut:
    return RouterSettingsOut(
        pinned_model=routing.settings.pinned_model,
        forbidden_models=list(routing.settings.forbidden_models),
        quality_target=routing.settings.quality_target,
        canary_model=routing.settings.canary_model,
        canary_share=routing.settings.canary_share,
        early_exit=routing.settings.early_exit,
        tool_answers=routing.settings.tool_answers,
        region=routing.region,
        plan=routing.plan,
        allowed_models=[AllowedModel(name=m.name, tier=m.tier) for m in catalog.in_region(routing.region)],
        tier_models=dict(routing.settings.tier_models),
        threshold=routing.settings.threshold,
    )


@router.get("/settings", response_model=RouterSettingsOut)
async def read_router_settings(principal: Reader, state: StateDep) -> RouterSettingsOut:
    catalog = catalog_at(state.settings.router_catalog)
    return _out(await settings_store.load(state.db, principal.tenant_id), catalog)


@router.put("/settings", response_model=RouterSettingsOut)
async def replace_router_settings(body: RouterSettingsIn, principal: Writer, state: StateDep) -> RouterSettingsOut:
    catalog = catalog_at(state.settings.router_catalog)
    wanted = RouterSettings(
        pinned_model=body.pinned_model,
        forbidden_models=tuple(dict.fromkeys(body.forbidden_models)),
        quality_target=body.quality_target,
        canary_model=body.canary_model,
        canary_share=body.canary_share,
        early_exit=body.early_exit,
        tool_answers=body.tool_answers,
    )

    async def audit(session: AsyncSession) -> None:
        await record_event(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.subject,
            action="router.settings_updated",
            target="router",
            details={
                "pinned_model": wanted.pinned_model,
                "forbidden_models": list(wanted.forbidden_models),
                "quality_target": wanted.quality_target,
                "canary_model": wanted.canary_model,
                "canary_share": wanted.canary_share,
                "early_exit": wanted.early_exit,
                "tool_answers": wanted.tool_answers,
            },
        )

    try:
        saved = await settings_store.save(state.db, principal.tenant_id, wanted, catalog, also=audit)
    except ModelNotInRegion as exc:
        raise not_in_region(exc) from exc
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    return _out(saved, catalog)
