"""A tenant's router settings in Postgres (`tenant_router_settings`), and what the router reads of the tenant.

Writes check the pin and the forbidden list against the catalog and the tenant's data region first, so a
model that may not see the tenant's data is refused when it is configured, not discovered at the first turn.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import Database, run_sql
from router.canary import Canary, SubjectCanary
from router.catalog import Catalog, ModelNotInRegion

MAX_FORBIDDEN = 64


@dataclass(frozen=True)
class RouterSettings:
    pinned_model: str | None = None
    forbidden_models: tuple[str, ...] = ()
    quality_target: float | None = None
    canary_model: str | None = None
    canary_share: float = 0.0
    # The tenant's own model per tier (a promoted canary's), over the operator's; {"small": "model", ...}.
    tier_models: tuple[tuple[str, str], ...] = ()
    # Answer an exact repeat of a recent first question from the cache, without a model call (off by default).
    early_exit: bool = False
    # End a turn whose step is one successful call of a tool with an answer template with the rendered
    # output, without a model call to word it (off by default).
    tool_answers: bool = False
    # The tenant's own routing threshold (a promoted threshold canary's), over its quality target's.
    threshold: float | None = None
    # The running canary of an agent version or a routing threshold (`CanaryWorkflow` sets and ends it).
    subject_canary: SubjectCanary | None = None

    def tier_model(self, tier: str) -> str | None:
        return dict(self.tier_models).get(tier)

    def canary(self, tenant_id: str) -> Canary | None:
        """The canary's id names the tenant and the model, so a new canary model reshuffles who is in it."""
        if not self.canary_model or self.canary_share <= 0:
            return None
        return Canary(f"{tenant_id}:{self.canary_model}", self.canary_model, self.canary_share)


@dataclass(frozen=True)
class TenantRouting:
    plan: str
    region: str
    settings: RouterSettings = field(default_factory=RouterSettings)
    # The tenant's newest own router (`router.versions`); None: the global one.
    router_version: str | None = None


async def load(db: Database, tenant_id: str) -> TenantRouting:
    async with db.tenant_session(tenant_id) as session:
        return await read(session, tenant_id)


_READ = (
    "SELECT t.plan, t.data_region, s.tenant_id IS NOT NULL AS configured, s.pinned_model, s.forbidden_models,"
    " s.quality_target, s.canary_model, s.canary_share, s.tier_models,"
    " s.early_exit, s.tool_answers, s.threshold, s.canary_subject,"
    " (SELECT version FROM tenant_routers WHERE tenant_id = :t ORDER BY created_at DESC LIMIT 1) AS router_version"
    " FROM tenants t LEFT JOIN tenant_router_settings s ON s.tenant_id = t.id WHERE t.id = :t"
)


async def read(session: AsyncSession, tenant_id: str) -> TenantRouting:
    """What the router reads of the tenant, in one statement inside a transaction the caller holds."""
    row = (await run_sql(session, _READ, {"t": tenant_id})).first()
    if row is None:
        raise LookupError(f"tenant {tenant_id} not found")
    settings = (
        RouterSettings(
            row.pinned_model,
            tuple(row.forbidden_models or ()),
            row.quality_target,
            row.canary_model,
            float(row.canary_share),
            tuple(sorted((str(k), str(v)) for k, v in (row.tier_models or {}).items())),
            bool(row.early_exit),
            bool(row.tool_answers),
            None if row.threshold is None else float(row.threshold),
            SubjectCanary.from_json(row.canary_subject),
        )
        if row.configured
        else RouterSettings()
    )
    return TenantRouting(
        plan=str(row.plan), region=str(row.data_region), settings=settings, router_version=row.router_version
    )


def validate(settings: RouterSettings, region: str, catalog: Catalog) -> None:
    """Refuses a pin outside the tenant's region (or unknown to the catalog) with `ModelNotInRegion`."""
    if settings.pinned_model is not None:
        catalog.require_in_region(settings.pinned_model, region)
        if settings.pinned_model in settings.forbidden_models:
            raise ValueError("the pinned model is also forbidden")
    if settings.canary_model is not None:
        catalog.require_in_region(settings.canary_model, region)
        if settings.canary_model in settings.forbidden_models:
            raise ValueError("the canary model is also forbidden")
    if not 0.0 <= settings.canary_share <= 1.0:
        raise ValueError("canary_share is between 0 and 1")
    if len(settings.forbidden_models) > MAX_FORBIDDEN:
        raise ValueError(f"at most {MAX_FORBIDDEN} forbidden models")


async def write(session: AsyncSession, tenant_id: str, settings: RouterSettings) -> None:
    """Store settings already validated (`validate`) in the caller's transaction."""
    await run_sql(
        session,
        """
        INSERT INTO tenant_router_settings
            (tenant_id, pinned_model, forbidden_models, quality_target, canary_model, canary_share, early_exit,
             tool_answers, updated_at)
        VALUES (:t, :pin, :forbidden, :quality, :canary, :share, :early, :tool_answers, now())
        ON CONFLICT (tenant_id) DO UPDATE SET pinned_model = EXCLUDED.pinned_model,
            forbidden_models = EXCLUDED.forbidden_models, quality_target = EXCLUDED.quality_target,
            canary_model = EXCLUDED.canary_model, canary_share = EXCLUDED.canary_share,
            early_exit = EXCLUDED.early_exit, tool_answers = EXCLUDED.tool_answers, updated_at = now()
        """,
        {
            "early": settings.early_exit,
            "tool_answers": settings.tool_answers,
            "t": tenant_id,
            "pin": settings.pinned_model,
            "forbidden": list(settings.forbidden_models),
            "quality": settings.quality_target,
            "canary": settings.canary_model,
            "share": settings.canary_share,
        },
    )


async def set_canary(session: AsyncSession, tenant_id: str, model: str | None, share: float) -> None:
    """Start or end the router's canary, leaving every other setting as it is."""
    await run_sql(
        session,
        """
        INSERT INTO tenant_router_settings (tenant_id, canary_model, canary_share, updated_at)
        VALUES (:t, :model, :share, now())
        ON CONFLICT (tenant_id) DO UPDATE SET canary_model = EXCLUDED.canary_model,
            canary_share = EXCLUDED.canary_share, updated_at = now()
        """,
        {"t": tenant_id, "model": model, "share": share},
    )


async def end_canary(session: AsyncSession, tenant_id: str, model: str) -> None:
    """End the router's canary of `model`; a canary set by hand since (another model) is the tenant's."""
    await run_sql(
        session,
        "UPDATE tenant_router_settings SET canary_model = NULL, canary_share = 0, updated_at = now()"
        " WHERE tenant_id = :t AND canary_model = :model",
        {"t": tenant_id, "model": model},
    )


async def promote_canary(session: AsyncSession, tenant_id: str, tier: str, model: str) -> None:
    """The canary's model becomes the tenant's model for its tier, and the canary ends."""
    await run_sql(
        session,
        """
        INSERT INTO tenant_router_settings (tenant_id, tier_models, updated_at)
        VALUES (:t, jsonb_build_object(CAST(:tier AS text), CAST(:model AS text)), now())
        ON CONFLICT (tenant_id) DO UPDATE SET
            tier_models = tenant_router_settings.tier_models || EXCLUDED.tier_models,
            canary_model = NULL, canary_share = 0, updated_at = now()
        """,
        {"t": tenant_id, "tier": tier, "model": model},
    )


async def set_subject_canary(session: AsyncSession, tenant_id: str, canary: SubjectCanary) -> None:
    """Start the router's canary of an agent version or a threshold, leaving every other setting as it is."""
    await run_sql(
        session,
        """
        INSERT INTO tenant_router_settings (tenant_id, canary_subject, updated_at)
        VALUES (:t, CAST(:subject AS jsonb), now())
        ON CONFLICT (tenant_id) DO UPDATE SET canary_subject = EXCLUDED.canary_subject, updated_at = now()
        """,
        {"t": tenant_id, "subject": json.dumps(canary.as_json())},
    )


async def read_subject_canary(session: AsyncSession, tenant_id: str) -> SubjectCanary | None:
    """The running canary of an agent version or a threshold, in a transaction the caller holds."""
    query = "SELECT canary_subject FROM tenant_router_settings WHERE tenant_id = :t"
    row = (await run_sql(session, query, {"t": tenant_id})).first()
    return None if row is None else SubjectCanary.from_json(row.canary_subject)


async def end_subject_canary(session: AsyncSession, tenant_id: str, canary_id: str) -> None:
    """End the router's canary `canary_id`; another one set since is left alone."""
    await run_sql(
        session,
        "UPDATE tenant_router_settings SET canary_subject = NULL, updated_at = now()"
        " WHERE tenant_id = :t AND canary_subject->>'id' = :id",
        {"t": tenant_id, "id": canary_id},
    )


async def set_threshold(session: AsyncSession, tenant_id: str, threshold: float) -> None:
    """The tenant's own routing threshold (a promoted threshold canary's), leaving every other setting as it is."""
    if not 0.0 < threshold < 1.0:
        raise ValueError("a routing threshold is between 0 and 1")
    await run_sql(
        session,
        """
        INSERT INTO tenant_router_settings (tenant_id, threshold, updated_at) VALUES (:t, :threshold, now())
        ON CONFLICT (tenant_id) DO UPDATE SET threshold = EXCLUDED.threshold, updated_at = now()
        """,
        {"t": tenant_id, "threshold": threshold},
    )


async def save(
    db: Database,
    tenant_id: str,
    settings: RouterSettings,
    catalog: Catalog,
    *,
    also: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> TenantRouting:
    """Validate and store; `also` runs in the same transaction (the audit record), so both commit or neither."""
    current = await load(db, tenant_id)
    validate(settings, current.region, catalog)
    async with db.tenant_session(tenant_id) as session:
        await write(session, tenant_id, settings)
        if also is not None:
            await also(session)
    # `write` leaves what canaries set as it is: the tenant's own tier models and threshold, a running canary.
    kept = replace(
        settings,
        tier_models=current.settings.tier_models,
        threshold=current.settings.threshold,
        subject_canary=current.settings.subject_canary,
    )
    return TenantRouting(plan=current.plan, region=current.region, settings=kept)


__all__ = [
    "ModelNotInRegion",
    "RouterSettings",
    "TenantRouting",
    "end_canary",
    "end_subject_canary",
    "load",
    "promote_canary",
    "read_subject_canary",
    "save",
    "set_canary",
    "set_subject_canary",
    "set_threshold",
    "validate",
    "write",
]
