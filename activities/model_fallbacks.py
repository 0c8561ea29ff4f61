"""The model activity's side of routing: walk the decided chain, announce and count every fallback.

Provider health is shared through Redis (`router.health.ProviderHealth`), so a provider that one worker saw
fail cools down for all of them. A fallback is a `model.fallback` event (from, to, cause) and a count in
`aiaas_model_fallbacks_total`; the answer carries the model that gave it, which billing charges.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from redis.asyncio import Redis
from temporalio import activity

from contracts.conversation import ModelCallInput
from contracts.events import EventType
from core.events import EventBus
from router.catalog import Catalog
from router.fallback import run_chain
from router.health import Health, LocalHealth, ProviderHealth

T = TypeVar("T")
log = structlog.get_logger("aiaas.router")


class ModelFallbacks:
    def __init__(self, bus: EventBus, redis: Redis | None, catalog: Catalog | None = None) -> None:
        self._bus = bus
        # Without Redis (unit wiring) health is this process's own.
        self._health: Health = ProviderHealth(redis) if redis is not None else LocalHealth()
        self._catalog = catalog or Catalog.load()

    async def answer(self, inp: ModelCallInput, call: Callable[[str], Awaitable[T]]) -> tuple[T, str]:
        route = inp.route
        assert route is not None, "only a routed call has a chain"
        attempt = activity.info().attempt

        async def moved(failed: str, to: str, cause: str) -> None:
            log.warning("model fallback", tenant_id=inp.tenant_id, failed=failed, to=to, cause=cause)
            await self._bus.publish(
                inp.tenant_id,
                inp.conversation_id,
                EventType.MODEL_FALLBACK,
                {"message_id": inp.message_id, "step": inp.step, "from": failed, "to": to, "cause": cause},
                dedup_key=f"{inp.message_id}:fallback:{inp.step}:{attempt}:{failed}",
            )

        return await run_chain(
            list(route.chain), call, self._health, catalog=self._catalog, region=route.region, on_fallback=moved
        )
