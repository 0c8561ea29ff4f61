"""Metering: how activities reserve, settle and refund what their model and tool calls cost.

Built once per worker (`build_metering(db, redis, bus, settings)`) and handed to the activity classes.

The model activity wraps the provider call; the step key must not depend on the attempt, so a retry, a
replay, or a new worker after a crash finds the same ledger row and the step is billed once::

    async with metering.model_call(
        tenant_id=inp.tenant_id,
        workflow_id=activity.info().workflow_id,
        step_key=model_step_key(inp.message_id, inp.step),
        conversation_id=inp.conversation_id,
        agent=inp.agent,
        model=model,
        estimate_prompt_tokens=estimate_tokens(m["content"] for m in messages),
        max_completion_tokens=max_tokens,  # optional; default AIAAS_DEFAULT_MAX_COMPLETION_TOKENS
    ) as meter:
        ...stream...
        # From the provider's usage, before leaving the block; a provider that reports none gets estimates:
        # meter.record(estimate_tokens(m["content"] for m in messages), estimate_tokens([answer]))
        meter.record(prompt_tokens, completion_tokens)

The tool runtime wraps the tool's execution the same way, with the tool spec's price::

    async with metering.tool_call(
        tenant_id=inp.tenant_id,
        workflow_id=activity.info().workflow_id,
        step_key=tool_step_key(inp.message_id, inp.call_id),
        conversation_id=inp.conversation_id,
        agent=inp.agent,
        tool=spec.name,
        cost_usd=spec.cost_usd,
    ):
        ...run the tool...

and a saga compensation that undoes a tool call gives its charge back with
`await metering.refund_tool(tenant_id, workflow_id, tool_step_key(message_id, call_id))` (the tool runtime
does so for a compensation whose `ToolCallInput.undoes_call_id` names the call, once it succeeds).
`await metering.safe_mode(tenant_id)` says whether to route to the cheap tier and refuse expensive tools;
`await metering.mode(tenant_id)` gives the full `BudgetMode` (BLOCKED: stop the loop).

Leaving the block normally settles (the usage recorded, or the estimate when none was); an exception,
cancellation included, refunds and re-raises, so a failed attempt is not billed and the next attempt
reserves again. A worker killed inside the block leaves the reservation live until it expires; the retry
takes it over. When the step was settled already (`meter.already_settled`), the block still runs (the
activity must produce its result) but nothing is billed twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import structlog
from redis.asyncio import Redis

from core.events import EventBus
from core.settings import Settings
from db.database import Database
from policies.budgets import BudgetMode
from policies.cost_guard import CostGuard
from policies.ledger import LedgerKind, Reservation, Settlement, ledger_key, model_step_key, tool_step_key
from policies.pricing import Pricing, estimate_tokens, usd

__all__ = ["Meter", "Metering", "build_metering", "estimate_tokens", "model_step_key", "tool_step_key"]

log = structlog.get_logger("aiaas.costs")


@dataclass
class Meter:
    """One metered call: what was reserved, and the usage the caller records before leaving the block."""

    key: str
    reservation: Reservation
    prompt_tokens: int | None = None
    completion_tokens: int = 0
    settlement: Settlement | None = field(default=None, init=False)
    # The model that answered, when a fallback did rather than the model reserved for: billing charges it.
    answered_by: str | None = None

    @property
    def already_settled(self) -> bool:
        return self.reservation.settled

    def record(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens = max(0, int(prompt_tokens))
        self.completion_tokens = max(0, int(completion_tokens))

    @property
    def settled_now(self) -> bool:
        """Whether leaving the block billed this step (False for a step billed by an earlier attempt)."""
        return self.settlement is not None and self.settlement.first


class Metering:
    def __init__(
        self,
        guard: CostGuard,
        pricing: Pricing,
        *,
        reservation_ttl_seconds: float = 600.0,
        default_max_completion_tokens: int = 1024,
    ) -> None:
        self.guard = guard
        self.pricing = pricing
        self._ttl = reservation_ttl_seconds
        self._max_completion = default_max_completion_tokens

    @asynccontextmanager
    async def model_call(
        self,
        *,
        tenant_id: str,
        workflow_id: str | None,
        step_key: str,
        conversation_id: str | None,
        agent: str,
        model: str,
        estimate_prompt_tokens: int,
        max_completion_tokens: int | None = None,
    ) -> AsyncIterator[Meter]:
        workflow_id = _workflow(workflow_id)
        key = ledger_key(workflow_id, step_key)
        completion_cap = max_completion_tokens or self._max_completion
        reservation = await self.guard.reserve(
            tenant_id,
            key,
            kind=LedgerKind.MODEL,
            estimate_usd=self.pricing.estimate(model, estimate_prompt_tokens, completion_cap),
            workflow_id=workflow_id,
            conversation_id=conversation_id,
            agent=agent,
            model=model,
            ttl_seconds=self._ttl,
        )
        meter = self._meter(tenant_id, key, reservation)
        try:
            yield meter
        except BaseException:
            await self._refund_after_failure(tenant_id, meter)
            raise
        if meter.prompt_tokens is None:
            # The provider reported no usage: bill the prompt as estimated rather than nothing.
            log.warning("model call without usage; billing the estimate", model=model, key=key)
            meter.record(estimate_prompt_tokens, meter.completion_tokens)
        prompt = meter.prompt_tokens or 0
        answered_by = meter.answered_by or model
        meter.settlement = await self.guard.settle_detail(
            tenant_id,
            key,
            cost_usd=self.pricing.cost(answered_by, prompt, meter.completion_tokens),
            prompt_tokens=prompt,
            completion_tokens=meter.completion_tokens,
            model=answered_by if answered_by != model else None,
        )

    @asynccontextmanager
    async def tool_call(
        self,
        *,
        tenant_id: str,
        workflow_id: str | None,
        step_key: str,
        conversation_id: str | None,
        agent: str,
        tool: str,
        cost_usd: float | Decimal,
    ) -> AsyncIterator[Meter]:
        workflow_id = _workflow(workflow_id)
        key = ledger_key(workflow_id, step_key)
        price = usd(Decimal(str(cost_usd)))
        reservation = await self.guard.reserve(
            tenant_id,
            key,
            kind=LedgerKind.TOOL,
            estimate_usd=price,
            workflow_id=workflow_id,
            conversation_id=conversation_id,
            agent=agent,
            tool=tool,
            ttl_seconds=self._ttl,
        )
        meter = self._meter(tenant_id, key, reservation)
        meter.record(0, 0)
        try:
            yield meter
        except BaseException:
            await self._refund_after_failure(tenant_id, meter)
            raise
        meter.settlement = await self.guard.settle_detail(
            tenant_id, key, cost_usd=price, prompt_tokens=0, completion_tokens=0
        )

    async def refund_tool(self, tenant_id: str, workflow_id: str | None, step_key: str) -> bool:
        """Give back a tool call's charge when a saga compensates it; True the first time only."""
        return await self.guard.refund(tenant_id, ledger_key(workflow_id, step_key))

    async def mode(self, tenant_id: str) -> BudgetMode:
        return await self.guard.mode(tenant_id)

    async def safe_mode(self, tenant_id: str) -> bool:
        return await self.guard.mode(tenant_id) != BudgetMode.NORMAL

    def _meter(self, tenant_id: str, key: str, reservation: Reservation) -> Meter:
        if reservation.settled:
            log.info("step billed already; running it unbilled", tenant_id=tenant_id, key=key)
        return Meter(key=key, reservation=reservation)

    async def _refund_after_failure(self, tenant_id: str, meter: Meter) -> None:
        if meter.already_settled:
            return  # an earlier attempt's settlement stands; this attempt billed nothing
        try:
            # Only a live reservation: a concurrent attempt may have settled the step meanwhile.
            await self.guard.refund(tenant_id, meter.key, settled_too=False)
        except Exception:
            # The reservation then expires on its own; the original error is what the caller must see.
            log.exception("refund after a failed call did not go through", tenant_id=tenant_id, key=meter.key)


def _workflow(workflow_id: str | None) -> str:
    # `activity.info().workflow_id` is optional in the SDK's types; a metered step always has a workflow.
    if not workflow_id:
        raise ValueError("a metered call needs the workflow id of its step")
    return workflow_id


def build_metering(db: Database, redis: Redis, bus: EventBus | None, settings: Settings) -> Metering:
    """The worker's metering, from settings: prices, reservation expiry, mode cache, metric labels."""
    pricing = Pricing.from_settings(settings)
    guard = CostGuard(
        db,
        redis,
        bus,
        mode_cache_seconds=settings.budget_mode_cache_seconds,
        model_label=pricing.metric_label,
    )
    return Metering(
        guard,
        pricing,
        reservation_ttl_seconds=settings.reservation_ttl_seconds,
        default_max_completion_tokens=settings.default_max_completion_tokens,
    )
