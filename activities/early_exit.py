"""`router.early_exit_lookup`, `router.early_exit_store` and `router.tool_answer`: early exit's local activities.

The lookup runs before a turn's first model call. For a tenant that opted in (`RouterSettings.early_exit`) and
a conversation's first question, it reads in one transaction the question, the agent's stamp and the
tenant's knowledge version, builds the key (`router.early_exit.cache_key`) and looks it up in Redis. A hit is
announced as `route.decided` with reason `early_exit` and counted; the turn then completes with the earlier
answer and no model call, so nothing is reserved or charged. The result is recorded in history, so a replay
takes the same path whatever the cache holds by then.

The store runs after a turn answered at its first step without a tool call (an answer that read a tool's
result is not a deterministic repeat). Redis trouble never fails a turn: a lookup that cannot reach Redis
is a miss, a store that cannot is dropped.

The lookup also says whether the tenant opted in to tool answers (`RouterSettings.tool_answers`), which the
workflow reads after each tool step; `router.tool_answer` announces and counts a turn so answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio import activity

from activities.routing import ROUTE_DECISIONS
from agents import transcripts
from agents.stamp import agent_stamp
from contracts.early_exit import (
    EARLY_EXIT_MODEL,
    TOOL_ANSWER_MODEL,
    EarlyExitInput,
    EarlyExitResult,
    EarlyExitStoreInput,
    ToolAnswerInput,
)
from contracts.events import EventType
from contracts.names import ACT_EARLY_EXIT_LOOKUP, ACT_EARLY_EXIT_STORE, ACT_TOOL_ANSWER
from contracts.routing import RouteReason
from core.events import EventBus
from db.database import Database
from router import settings_store
from router.early_exit import DEFAULT_TTL_SECONDS, AnswerCache, cache_key, keepable, knowledge_version, qualifies

log = structlog.get_logger("aiaas.router")

# A tenant found opted out (of both the cache and tool answers) is not read again for this long in this
# process, so the tenants that never opt in (most) pay no transaction per turn. Only the off state is
# remembered: turning either off takes effect at once, turning one on within this delay (a few more model
# calls, nothing wrong served).
OFF_MEMO_SECONDS = 30.0
_OFF_MEMO_MAX = 10_000

# outcome: hit, miss, stored, unavailable (Redis could not be reached), tool_answer (a tool's rendered output).
EARLY_EXITS = Counter("aiaas_early_exit_total", "Early-exit cache lookups and stores, by outcome", ["outcome"])


class EarlyExitActivities:
    def __init__(self, db: Database, redis: Redis, bus: EventBus, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._db = db
        self._bus = bus
        self._cache = AnswerCache(redis, ttl_seconds)
        self._off_until: dict[str, float] = {}

    def _known_off(self, tenant_id: str) -> bool:
        until = self._off_until.get(tenant_id)
        return until is not None and time.monotonic() < until

    def _remember_off(self, tenant_id: str) -> None:
        if len(self._off_until) >= _OFF_MEMO_MAX:
            self._off_until.clear()
        self._off_until[tenant_id] = time.monotonic() + OFF_MEMO_SECONDS

    async def _key(self, inp: EarlyExitInput) -> tuple[str | None, bool]:
        """The question's cache key (None: the tenant keeps no cache, or the question does not qualify) and
        whether the tenant opted in to tool answers."""
        async with self._db.tenant_session(inp.tenant_id) as session:
            settings = (await settings_store.read(session, inp.tenant_id)).settings
            if not settings.early_exit:
                if not settings.tool_answers:
                    self._remember_off(inp.tenant_id)
                return None, settings.tool_answers
            texts = await transcripts.last_user_texts(
                session, conversation_id=inp.conversation_id, up_to_message_id=inp.message_id, count=2
            )
            # Only a conversation's first question: a later answer also depends on what was said before it.
            if len(texts) != 1 or not qualifies(texts[0]):
                return None, settings.tool_answers
            stamp = await agent_stamp(session, inp.agent)
            knowledge = await knowledge_version(session)
        key = cache_key(inp.tenant_id, inp.agent, inp.agent_version, stamp, knowledge, texts[0])
        return key, settings.tool_answers

    @activity.defn(name=ACT_EARLY_EXIT_LOOKUP)
    async def lookup(self, inp: EarlyExitInput) -> EarlyExitResult:
        if self._known_off(inp.tenant_id):
            return EarlyExitResult()
        key, tools = await self._key(inp)
        if key is None:
            # No cache for this turn; a tool's rendered answer may still end it.
            return EarlyExitResult(opted_in=tools)
        try:
            kept = await self._cache.get(key)
        except RedisError:
            EARLY_EXITS.labels(outcome="unavailable").inc()
            log.warning("early exit cache unavailable", tenant_id=inp.tenant_id)
            return EarlyExitResult(enabled=True, key=key, opted_in=tools)
        if kept is None:
            EARLY_EXITS.labels(outcome="miss").inc()
            return EarlyExitResult(enabled=True, key=key, opted_in=tools)
        answer, model = kept
        EARLY_EXITS.labels(outcome="hit").inc()
        ROUTE_DECISIONS.labels(tier="none", reason=RouteReason.EARLY_EXIT.value).inc()
        await self._announce(
            inp.tenant_id,
            inp.conversation_id,
            inp.message_id,
            0,
            RouteReason.EARLY_EXIT,
            EARLY_EXIT_MODEL,
            answered_by=model,
        )
        log.info("early exit", tenant_id=inp.tenant_id, agent=inp.agent)
        return EarlyExitResult(enabled=True, key=key, answer=answer, model=model, opted_in=tools)

    @activity.defn(name=ACT_TOOL_ANSWER)
    async def tool_answer(self, inp: ToolAnswerInput) -> None:
        """Announce and count a turn answered by its tool's rendered output (the workflow rendered it)."""
        EARLY_EXITS.labels(outcome="tool_answer").inc()
        ROUTE_DECISIONS.labels(tier="none", reason=RouteReason.TOOL_ANSWER.value).inc()
        await self._announce(
            inp.tenant_id,
            inp.conversation_id,
            inp.message_id,
            inp.step + 1,
            RouteReason.TOOL_ANSWER,
            TOOL_ANSWER_MODEL,
            tool=inp.tool,
        )
        log.info("tool answer", tenant_id=inp.tenant_id, tool=inp.tool)

    async def _announce(
        self, tenant_id: str, conversation_id: str, message_id: str, step: int, reason: RouteReason, model: str,
        **extra: str,
    ) -> None:  # fmt: skip
        """`route.decided` for a step no model answered (free: cost 0, no tier), once per step."""
        await self._bus.publish(
            tenant_id,
            conversation_id,
            EventType.ROUTE_DECIDED,
            {"message_id": message_id, "step": step, "tier": None, "model": model, "reason": reason.value, **extra,
             "cost_usd": 0.0},
            dedup_key=f"{message_id}:route:{step}",
        )  # fmt: skip

    @activity.defn(name=ACT_EARLY_EXIT_STORE)
    async def store(self, inp: EarlyExitStoreInput) -> None:
        if not inp.key.startswith(f"aiaas:early:{{{inp.tenant_id}}}:") or not keepable(inp.answer):
            return
        try:
            await self._cache.put(inp.key, inp.answer, inp.model)
        except RedisError:
            EARLY_EXITS.labels(outcome="unavailable").inc()
            log.warning("early exit answer not kept", tenant_id=inp.tenant_id)
            return
        EARLY_EXITS.labels(outcome="stored").inc()

    def all(self) -> list[Callable[..., Any]]:
        return [self.lookup, self.store, self.tool_answer]
