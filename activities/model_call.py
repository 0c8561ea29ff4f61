"""The model activity: one streamed completion through litellm, deltas published as they arrive.

What the model reads (definition, transcript, this turn's tool steps, the tools offered) is assembled by
`agents.context`, by reference, never carried in workflow history. Content deltas stream to the conversation
as token events; tool-call deltas are assembled into `ModelCallResult.tool_calls`, which
the workflow checks before running anything.

litellm runs with its retries off; errors are mapped so Temporal's retry policy decides. A retried attempt
streams again under its own attempt number, so clients can tell a fresh stream from a repeat;
`message.completed` carries the authoritative text.
"""

from __future__ import annotations

import time
from typing import Any

import litellm
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio import activity

from activities.model_fallbacks import ModelFallbacks
from agents import prompt
from agents.context import ContextAssembler
from agents.models.errors import to_application_error
from agents.models.registry import model_for, register_builtin_providers
from agents.privacy import ProviderPrivacy
from agents.sdk import ToolRegistry
from contracts.agents import tool_name_from_function
from contracts.conversation import ModelCallInput, ModelCallResult, Tier, ToolCallRequest
from contracts.events import EventType
from contracts.names import ACT_MODEL_COMPLETE
from core.events import EventBus
from core.genai_tracing import chat_span
from core.settings import Settings
from core.telemetry import MODEL_CALL_SECONDS
from db.database import Database
from policies.concurrency import ConcurrencyLeases
from policies.metering import Metering, estimate_tokens, model_step_key
from router.fallback import MidStream

log = structlog.get_logger("aiaas.models")


class _ToolCallAssembler:
    """Streamed tool-call fragments (by index: id and name once, arguments in pieces) into whole calls."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def add(self, fragment: Any) -> None:
        index = int(_field(fragment, "index") or 0)
        call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": []})
        call["id"] = call["id"] or (_field(fragment, "id") or "")
        function = _field(fragment, "function")
        if function is not None:
            call["name"] = call["name"] or (_field(function, "name") or "")
            call["arguments"].append(_field(function, "arguments") or "")

    def requests(self, step: int) -> list[ToolCallRequest]:
        requests = []
        for position, index in enumerate(sorted(self._calls)):
            call = self._calls[index]
            requests.append(
                ToolCallRequest(
                    call_id=str(call["id"] or f"call_{step}_{position}")[:128],
                    tool=tool_name_from_function(str(call["name"]))[:128],
                    arguments=prompt.parse_arguments("".join(call["arguments"])),
                )
            )
        return requests


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # models litellm has no price for (scripted, local, private deployments) cost nothing here
        return 0.0
    return float(prompt_cost + completion_cost)


class ModelActivities:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: Settings,
        registry: ToolRegistry,
        metering: Metering | None = None,
        redis: Redis | None = None,
        privacy: ProviderPrivacy | None = None,
    ) -> None:
        self._db = db
        # What an external provider may read, per tenant: pseudonyms out, values back in the answer.
        self._privacy = privacy or ProviderPrivacy(db)
        self._metering = metering
        # Each model call renews the turn's concurrent-turn lease: a long turn keeps its slot. A lease already
        # gone (expired, or released while the turn waited for a person) is not taken again.
        self._leases = ConcurrencyLeases(redis) if redis is not None else None
        self._bus = bus
        self._settings = settings
        self._contexts = ContextAssembler(db, settings, registry)
        self._fallbacks = ModelFallbacks(bus, redis)
        register_builtin_providers()

    async def _renew_lease(self, inp: ModelCallInput) -> None:
        if self._leases is None:
            return
        try:
            await self._leases.renew(inp.tenant_id, inp.message_id, self._settings.concurrency_lease_ttl_seconds)
        except RedisError:
            # The lease is admission's count, not the turn's permission; a missed renewal lets it lapse early.
            log.warning("turn lease not renewed", tenant_id=inp.tenant_id, message_id=inp.message_id)

    @activity.defn(name=ACT_MODEL_COMPLETE)
    async def complete(self, inp: ModelCallInput) -> ModelCallResult:
        info = activity.info()
        await self._renew_lease(inp)
        if inp.route is not None:
            # Routed in history (`router.decide`): the decision's first model, its chain as fallbacks.
            model = inp.route.model
        else:
            tier = inp.tier
            if self._metering is not None and tier != Tier.SMALL and await self._metering.safe_mode(inp.tenant_id):
                # Over the soft budget the router prefers the small tier.
                tier = Tier.SMALL
            model = model_for(self._settings, inp.agent, tier)
        context = await self._contexts.assemble(inp)
        messages, tools = context.messages, context.tools
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.TURN_STARTED,
            {"message_id": inp.message_id, "model": model, "attempt": info.attempt, "step": inp.step},
            dedup_key=f"{inp.message_id}:started:{inp.step}:{info.attempt}",
        )
        if self._metering is None:
            result, _reported = await self._answer(inp, model, messages, tools)
            return result
        # Reserved before the call, settled once per step whatever the attempt, refunded if the call fails.
        async with self._metering.model_call(
            tenant_id=inp.tenant_id,
            workflow_id=info.workflow_id,
            step_key=model_step_key(inp.message_id, inp.step),
            conversation_id=inp.conversation_id,
            agent=inp.agent,
            model=model,
            estimate_prompt_tokens=estimate_tokens(str(m.get("content") or "") for m in messages),
        ) as meter:
            result, reported = await self._answer(inp, model, messages, tools)
            if reported:
                meter.record(result.prompt_tokens, result.completion_tokens)
            meter.answered_by = result.model
        cost = self._metering.pricing.cost(result.model, result.prompt_tokens, result.completion_tokens)
        return result.model_copy(update={"cost_usd": float(cost)})

    async def _answer(
        self, inp: ModelCallInput, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> tuple[ModelCallResult, bool]:
        """One model's answer, or along the routed chain the first that answers (`result.model` says which)."""
        if inp.route is None or len(inp.route.chain) < 2:
            return await self._stream(inp, model, messages, tools)
        answer, _model = await self._fallbacks.answer(
            inp, lambda candidate: self._stream(inp, candidate, messages, tools, mid_stream=True)
        )
        return answer

    async def _stream(
        self,
        inp: ModelCallInput,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        mid_stream: bool = False,
    ) -> tuple[ModelCallResult, bool]:
        """One streamed completion; also whether the provider reported its usage.

        What the provider may read is decided per model (a fallback may be another provider): the tenant's
        privacy policy shields the messages, and the answer and tool arguments come back with the values.
        """
        info = activity.info()
        shield = await self._privacy.shield(inp.tenant_id, model, messages)
        restorer = shield.streamer()
        started = time.perf_counter()
        parts: list[str] = []
        calls = _ToolCallAssembler()
        usage = None
        finish_reason = ""
        with chat_span(model, agent=inp.agent, conversation_id=inp.conversation_id) as span:
            try:
                stream = await litellm.acompletion(
                    model=model,
                    messages=shield.messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    num_retries=0,
                    max_retries=0,
                    timeout=self._settings.model_timeout_seconds,
                    metadata={"attempt": info.attempt, "workflow_id": info.workflow_id},
                    **({"tools": tools} if tools else {}),
                )
                async for chunk in stream:
                    usage = getattr(chunk, "usage", None) or usage
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    finish_reason = choice.finish_reason or finish_reason
                    for fragment in getattr(choice.delta, "tool_calls", None) or []:
                        calls.add(fragment)
                        activity.heartbeat(len(parts))
                    delta = restorer.feed(choice.delta.content or "")
                    if not delta:
                        continue
                    await self._publish_token(inp, info.attempt, len(parts), delta)
                    parts.append(delta)
                    activity.heartbeat(len(parts))
                tail = restorer.flush()
                if tail:
                    await self._publish_token(inp, info.attempt, len(parts), tail)
                    parts.append(tail)
            except Exception as exc:  # provider errors of every kind; cancellation is a BaseException and passes
                MODEL_CALL_SECONDS.labels(outcome="error").observe(time.perf_counter() - started)
                error = to_application_error(exc, model)
                if mid_stream and parts:
                    # Part of this answer is out already: no fallback may stream another over it.
                    raise MidStream(error) from exc
                raise error from exc
            MODEL_CALL_SECONDS.labels(outcome="ok").observe(time.perf_counter() - started)
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            result = ModelCallResult(
                content="".join(parts),
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                tool_calls=[shield.restore_call(call) for call in calls.requests(inp.step)],
                # With metering the price comes from its pricing table instead (set by the caller).
                cost_usd=_cost(model, prompt_tokens, completion_tokens) if self._metering is None else 0.0,
                finish_reason=finish_reason,
            )
            span.answered(
                model=model, input_tokens=prompt_tokens, output_tokens=completion_tokens, finish_reason=finish_reason
            )
        return result, usage is not None

    async def _publish_token(self, inp: ModelCallInput, attempt: int, index: int, delta: str) -> None:
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.TOKEN,
            {"message_id": inp.message_id, "index": index, "delta": delta, "attempt": attempt, "step": inp.step},
        )
