"""Every registered tool as a Temporal activity, with the checks and the resilience around it.

One activity per tool version, named `tools.<name>.v<version>`, taking a `ToolCallInput` and returning a
`ToolCallResult`. Per call, in order: the tool is enabled for the tenant (`ToolNotEnabled`); the arguments
validate against its input model (`ToolInputInvalid`, with pydantic's errors but never the input); its
circuit breaker lets the call through (`ToolUnavailable`, fast, while a dependency is down); its bulkhead has
a free slot (`ToolBusy`, retried by Temporal about a second later); then `tool.started`, the tool itself,
its step row and `tool.completed`.

The idempotency key a tool passes to the outside world is `inp.idempotency_key` when the workflow set one,
else `idempotency_key(workflow_id, f"{call_id}:{activity_id}")`: both are the same on every attempt and on
replay (the activity id is assigned by the workflow's command sequence), and differ between two calls.

Failures reach the workflow as described in `activities.tools.failures` (`tool.failed`, or
`tool.unavailable`; an open circuit's `ToolUnavailable` is left to the retry policy, see
`CallReports.refuse`). A crash
surfaces as `ToolCrashed` with a message that says nothing of the exception (that goes to the worker log).
Only crashes, timeouts and retryable tool errors count as circuit breaker failures: a tool that answered
"no" is a healthy tool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.tools.failures import CallReports, clean_errors
from activities.tools.outcomes import started_key
from agents.enablement import ToolEnablement
from agents.sdk import Tool, ToolContext, ToolDenied, ToolError, ToolNotFound, ToolRegistry
from contracts.errors import ToolErrorType
from contracts.events import EventType
from contracts.tool_calls import ToolCallInput, ToolCallResult, ToolStatus, idempotency_key
from core.events import EventBus
from core.genai_tracing import tool_span
from db.database import Database
from policies.bulkhead import Bulkhead
from policies.circuit_breaker import HALF_OPEN, CircuitBreaker
from policies.metering import Metering, tool_step_key

log = structlog.get_logger("aiaas.tools")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
# Labels are tool names (bounded by the registry) and error types (bounded by the code).
CALLS = Counter("aiaas_tool_calls_total", "Tool activity attempts by outcome", ["tool", "outcome"])
SECONDS = Histogram("aiaas_tool_call_seconds", "Tool activity attempt latency", ["tool"], buckets=_BUCKETS)

# A bulkhead lease outlives the call's own timeout by this much, so it never expires under a live call.
LEASE_MARGIN_SECONDS = 5.0


class ConnectorSource(Protocol):
    """`commerce.connectors.factory.ConnectorFactory`: the tenant's connectors by system name."""

    async def for_tenant(self, tenant_id: str) -> dict[str, Any]: ...


def _dump(output: Any) -> dict[str, Any]:
    if isinstance(output, BaseModel):
        return output.model_dump(mode="json")
    if isinstance(output, dict):
        return output
    return {"value": output}


class ToolRuntime:
    def __init__(
        self,
        db: Database,
        redis: Redis,
        bus: EventBus,
        connectors: ConnectorSource | None,
        registry: ToolRegistry,
        *,
        breaker: CircuitBreaker | None = None,
        bulkhead: Bulkhead | None = None,
        enablement: ToolEnablement | None = None,
        metering: Metering | None = None,
        safe_mode_max_cost_usd: float = 0.05,
    ) -> None:
        self._db = db
        self._metering = metering
        self._safe_mode_max_cost = safe_mode_max_cost_usd
        self._bus = bus
        self._connectors = connectors
        self._registry = registry
        self._breaker = breaker or CircuitBreaker(redis)
        self._bulkhead = bulkhead or Bulkhead(redis)
        self._enablement = enablement or ToolEnablement(db, redis=redis, registry=registry)
        self._reports = CallReports(db, bus)

    @property
    def enablement(self) -> ToolEnablement:
        return self._enablement

    def activities(self) -> list[Callable[..., Any]]:
        """One activity per registered tool that runs as a function (saga tools run as workflows)."""
        return [self._activity(item) for item in self._registry.all() if item.fn is not None]

    def _activity(self, item: Tool) -> Callable[..., Any]:
        async def run_tool(inp: ToolCallInput) -> ToolCallResult:
            return await self.call(item, inp)

        run_tool.__name__ = run_tool.__qualname__ = f"tool_{item.spec.function_name}_v{item.spec.version}"
        return activity.defn(name=item.activity_name)(run_tool)

    async def call(self, item: Tool, inp: ToolCallInput) -> ToolCallResult:
        with tool_span(item.spec.name, call_id=inp.call_id, conversation_id=inp.conversation_id):
            return await self._measured(item, inp)

    async def _measured(self, item: Tool, inp: ToolCallInput) -> ToolCallResult:
        started = time.perf_counter()
        outcome = "crashed"
        try:
            result = await self._call(item, inp)
            outcome = "ok"
            return result
        except ApplicationError as err:
            outcome = err.type or "ApplicationError"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception:
            # Our own bookkeeping failed (database, Redis); the details stay in the worker's log.
            log.exception("tool runtime failed", tool=item.spec.name, call_id=inp.call_id, tenant_id=inp.tenant_id)
            outcome = "RuntimeFailed"
            raise ApplicationError(
                f"tool {item.spec.name} could not be run", type=ToolErrorType.RUNTIME_FAILED
            ) from None
        finally:
            CALLS.labels(tool=item.spec.name, outcome=outcome).inc()
            SECONDS.labels(tool=item.spec.name).observe(time.perf_counter() - started)

    async def _call(self, item: Tool, inp: ToolCallInput) -> ToolCallResult:
        spec = item.spec
        info = activity.info()
        if inp.tool != spec.name or inp.version != spec.version:
            raise await self._reports.refuse(
                item, inp, ToolErrorType.MISMATCH, f"this activity runs {spec.name} v{spec.version}", ToolStatus.ERROR
            )
        if not await self._enablement.is_enabled(inp.tenant_id, spec.name):
            raise await self._reports.refuse(
                item,
                inp,
                ToolErrorType.NOT_ENABLED,
                f"the tool {spec.name} is not enabled for this tenant",
                ToolStatus.DENIED,
            )
        if (
            self._metering is not None
            and spec.cost_usd > self._safe_mode_max_cost
            and await self._metering.safe_mode(inp.tenant_id)
        ):
            message = f"the tool {spec.name} is refused while the tenant's budget is in safe mode"
            raise await self._reports.refuse(
                item, inp, ToolErrorType.DENIED, message, ToolStatus.DENIED, {"reason": "budget_safe_mode"}
            )
        try:
            args = item.input_model.model_validate(inp.arguments)
        except ValidationError as exc:
            message = f"the arguments for {spec.name} are not valid"
            raise await self._reports.refuse(
                item, inp, ToolErrorType.INPUT_INVALID, message, ToolStatus.ERROR, {"errors": clean_errors(exc)}
            ) from None
        decision = await self._breaker.before_call(
            inp.tenant_id, spec.name, probe_seconds=spec.timeout_seconds + LEASE_MARGIN_SECONDS
        )
        if not decision.allowed:
            message = f"the tool {spec.name} is temporarily unavailable"
            extra = {"retry_after_seconds": round(decision.retry_after_seconds, 3)}
            raise await self._reports.refuse(
                item, inp, ToolErrorType.UNAVAILABLE, message, ToolStatus.UNAVAILABLE, extra
            )
        lease = f"{info.workflow_id}:{info.activity_id}:{info.attempt}"
        if not await self._bulkhead.acquire(
            inp.tenant_id, spec.name, lease, spec.max_concurrent, spec.timeout_seconds + LEASE_MARGIN_SECONDS
        ):
            raise await self._reports.retryable(
                item, inp, ToolErrorType.BUSY, f"the tool {spec.name} is busy", busy=True
            )
        try:
            return await self._run(item, inp, args, probing=decision.state == HALF_OPEN)
        finally:
            await self._bulkhead.release(inp.tenant_id, spec.name, lease)

    async def _run(self, item: Tool, inp: ToolCallInput, args: BaseModel, *, probing: bool) -> ToolCallResult:
        spec, info, fn = item.spec, activity.info(), item.fn
        assert fn is not None
        key = inp.idempotency_key or idempotency_key(info.workflow_id or "", f"{inp.call_id}:{info.activity_id}")
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.TOOL_STARTED,
            {
                "call_id": inp.call_id,
                "tool": spec.name,
                "version": spec.version,
                "attempt": info.attempt,
                "message_id": inp.message_id,
            },
            dedup_key=started_key(inp.message_id, inp.call_id, info.attempt),
        )
        tenant_id = inp.tenant_id
        try:
            connectors = await self._connectors.for_tenant(tenant_id) if self._connectors is not None else {}
            ctx = ToolContext(
                tenant_id=tenant_id,
                conversation_id=inp.conversation_id,
                message_id=inp.message_id,
                call_id=inp.call_id,
                customer_id=inp.customer_id,
                idempotency_key=key,
                attempt=info.attempt,
                session=lambda: self._db.tenant_session(tenant_id),
                connectors=connectors,
                heartbeat=activity.heartbeat,
            )
            # Our own deadline, just inside Temporal's: a hung dependency becomes a counted failure.
            async with asyncio.timeout(max(spec.timeout_seconds - 0.5, spec.timeout_seconds * 0.9)):
                if self._metering is None or spec.cost_usd <= 0:
                    output = await fn(ctx, args)
                else:
                    # A priced tool reserves its price first; a failed attempt gives it back, a retry after
                    # success is not billed again (the ledger key ignores the attempt).
                    async with self._metering.tool_call(
                        tenant_id=tenant_id,
                        workflow_id=info.workflow_id,
                        step_key=tool_step_key(inp.message_id, inp.call_id),
                        conversation_id=inp.conversation_id,
                        agent=inp.agent,
                        tool=spec.name,
                        cost_usd=spec.cost_usd,
                    ):
                        output = await fn(ctx, args)
        except ToolError as err:
            raise await self._tool_error(item, inp, err, probing=probing) from None
        except TimeoutError:
            await self._breaker.record_failure(tenant_id, spec.name)
            raise await self._reports.retryable(
                item, inp, ToolErrorType.TIMEOUT, f"the tool {spec.name} timed out"
            ) from None
        except Exception:
            log.warning("tool crashed", tool=spec.name, call_id=inp.call_id, tenant_id=tenant_id, exc_info=True)
            await self._breaker.record_failure(tenant_id, spec.name)
            raise await self._reports.retryable(
                item, inp, ToolErrorType.CRASHED, f"the tool {spec.name} failed unexpectedly"
            ) from None
        if probing:
            await self._breaker.record_success(tenant_id, spec.name)
        if inp.undoes_call_id and self._metering is not None:
            # A compensation that went through gives the undone call's charge back, once: a retry of it
            # finds the charge refunded already.
            undone = tool_step_key(inp.message_id, inp.undoes_call_id)
            await self._metering.refund_tool(tenant_id, info.workflow_id, undone)
        payload = _dump(output)
        await self._reports.record(item, inp, ToolStatus.OK, output=payload)
        return ToolCallResult(call_id=inp.call_id, tool=spec.name, status=ToolStatus.OK, output=payload)

    async def _tool_error(self, item: Tool, inp: ToolCallInput, err: ToolError, *, probing: bool) -> ApplicationError:
        name = item.spec.name
        if err.retryable:
            await self._breaker.record_failure(inp.tenant_id, name)
            return await self._reports.retryable(item, inp, err.type, str(err), details=err.details)
        if probing:
            # The dependency answered; whatever it said, the circuit may close.
            await self._breaker.record_success(inp.tenant_id, name)
        status = ToolStatus.DENIED if isinstance(err, ToolDenied | ToolNotFound) else ToolStatus.ERROR
        return await self._reports.refuse(item, inp, err.type, str(err), status, {"details": err.details})
