"""Applying one piece of a drift report's advice: once, permission-checked, audited, in one transaction.

The advice a report holds is the detector's (`policies.drift.detector`); what applying it changes:

- `safe_mode`: the tenant's daily soft budget is set to the proposed amount (the baseline's day plus 10 %),
  so today's spending past it puts the tenant in safe mode (cheaper tier, no expensive tools); the other
  limits stay. Needs `tenant:write`, as changing the budget by hand does.
- `model_pin`: the tenant's router settings pin the model the agent's turns moved off (tenant-wide: the
  settings have no per-agent pin), and stop forbidding it if they did.
- `router_threshold`: the router settings forbid the model whose quality got worse, so the router sends its
  traffic to the tier's other models (and fallbacks skip it); a canary on that model ends. Refused when the
  tenant pins that very model (the pin is a decision made by hand; change it by hand).
  Both need `agents:manage`, are checked against the catalog and the tenant's data region like a `PUT
  /v1/router/settings`, and are undone by one. Advice naming no single model is refused (409
  `advice_not_applicable`) and nothing is recorded.

The record in `drift_advice_applied`, the change and the audit event commit together or not at all; a second
apply of the same advice is 409 `advice_already_applied`.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from api.deps import authorize
from api.errors import ApiError
from api.state import GatewayState
from policies.budgets import Budget, load_budget, save_budget
from policies.cost_guard import CostGuard
from policies.drift.detector import MODEL_PIN, ROUTER_THRESHOLD, SAFE_MODE
from policies.drift.facts import ALL_MODELS
from policies.drift.store import applied_advice, mark_applied, read_report
from router import settings_store
from router.catalog import ModelNotInRegion, catalog_at
from router.settings_store import RouterSettings, TenantRouting
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

PERMISSION_TO_APPLY = {
    SAFE_MODE: Permission.TENANT_WRITE,
    MODEL_PIN: Permission.AGENTS_MANAGE,
    ROUTER_THRESHOLD: Permission.AGENTS_MANAGE,
}


def report_not_found() -> ApiError:
    return ApiError(404, "drift_report_not_found", "no such drift report")


def valid_report_id(report_id: str) -> bool:
    try:
        return str(uuid.UUID(report_id)) == report_id
    except ValueError:
        return False


async def _safe_mode(session: Any, tenant_id: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        soft = Decimal(str(params["daily_soft_usd"]))
    except (KeyError, InvalidOperation):
        raise ApiError(409, "advice_not_applicable", "this advice names no daily soft limit") from None
    current = await load_budget(session, tenant_id) or Budget()
    if current.daily_hard_usd is not None and current.daily_hard_usd < soft:
        raise ApiError(
            409,
            "advice_not_applicable",
            "the tenant's daily hard limit is below the proposed soft limit; lower the soft limit by hand",
            {"daily_hard_usd": str(current.daily_hard_usd), "daily_soft_usd": str(soft)},
        )
    saved = await save_budget(
        session,
        tenant_id,
        Budget(
            daily_soft_usd=soft,
            daily_hard_usd=current.daily_hard_usd,
            monthly_soft_usd=current.monthly_soft_usd,
            monthly_hard_usd=current.monthly_hard_usd,
        ),
    )
    return {"daily_soft_usd": str(saved.daily_soft_usd), "previous_daily_soft_usd": str(current.daily_soft_usd)}


def _not_applicable(reason: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(409, "advice_not_applicable", reason, details)


def advised_router_settings(
    routing: TenantRouting, kind: str, params: dict[str, Any], catalog_path: str
) -> RouterSettings:
    """The router settings that `model_pin` or `router_threshold` advice asks for, validated."""
    model = str(params.get("model") or "")
    if not model or model == ALL_MODELS:
        raise _not_applicable("this advice names no single model", {"kind": kind})
    current = routing.settings
    if kind == MODEL_PIN:
        wanted = replace(
            current, pinned_model=model, forbidden_models=tuple(m for m in current.forbidden_models if m != model)
        )
    else:
        if current.pinned_model == model:
            raise _not_applicable("the tenant pins this model; change the pin by hand", {"model": model})
        if model in current.forbidden_models:
            raise _not_applicable("the tenant forbids this model already", {"model": model})
        canary_ends = current.canary_model == model
        wanted = replace(
            current,
            forbidden_models=(*current.forbidden_models, model),
            canary_model=None if canary_ends else current.canary_model,
            canary_share=0.0 if canary_ends else current.canary_share,
        )
    try:
        settings_store.validate(wanted, routing.region, catalog_at(catalog_path))
    except ModelNotInRegion as exc:
        raise _not_applicable(f"{exc}", {"model": exc.model, "region": exc.region}) from exc
    except ValueError as exc:
        raise _not_applicable(str(exc), {"model": model}) from exc
    return wanted


def _describe(settings: RouterSettings) -> dict[str, Any]:
    return {
        "pinned_model": settings.pinned_model,
        "forbidden_models": list(settings.forbidden_models),
        "canary_model": settings.canary_model,
    }


async def apply_advice(
    state: GatewayState, principal: TenantPrincipal, report_id: str, n: int
) -> tuple[dict[str, Any], datetime]:
    """Apply advice `n` of the report; returns the advice and when it was applied."""
    if not valid_report_id(report_id):
        raise report_not_found()
    tenant_id = principal.tenant_id
    async with state.db.tenant_session(tenant_id) as session:
        report = await read_report(session, report_id)
        if report is None:
            raise report_not_found()
        advice = list(report.advice or [])
        if n >= len(advice):
            raise ApiError(404, "advice_not_found", f"the report has {len(advice)} pieces of advice")
        item = advice[n]
        kind = str(item["kind"])
        authorize(principal, PERMISSION_TO_APPLY.get(kind, Permission.TENANT_WRITE))
        if not await mark_applied(session, tenant_id, report_id, n, kind, principal.subject, {}):
            raise ApiError(409, "advice_already_applied", "this advice was applied already")
        params = dict(item.get("params") or {})
        if kind == SAFE_MODE:
            change = await _safe_mode(session, tenant_id, params)
        elif kind in (MODEL_PIN, ROUTER_THRESHOLD):
            routing = await settings_store.load(state.db, tenant_id)
            wanted = advised_router_settings(routing, kind, params, state.settings.router_catalog)
            await settings_store.write(session, tenant_id, wanted)
            change = {"router": _describe(wanted), "previous_router": _describe(routing.settings)}
        else:
            raise _not_applicable("this kind of advice cannot be applied", {"kind": kind})
        await record_event(
            session,
            tenant_id=tenant_id,
            actor=principal.subject,
            action="drift.advice_applied",
            target=f"drift_reports/{report_id}/advice/{n}",
            details={"kind": kind, "night": report.night.isoformat(), **change},
        )
        applied = (await applied_advice(session, report_id))[n]
    await CostGuard(
        state.db, state.redis, state.bus, mode_cache_seconds=state.settings.budget_mode_cache_seconds
    ).invalidate(tenant_id)
    return item, applied.applied_at
