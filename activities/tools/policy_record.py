"""The `tools.record_policy_decision` activity: a provenance decision on a tool call, announced and counted.

The workflow decides (`workflows.provenance`); this activity's input is the record: the verdict, the reason,
which intent of the customer's request was found, where each target argument's value came from and which
results the turn had read. It sits in the run's history for replay and audit, goes out as a `tool.policy`
event the client and operators can see, and is counted by verdict in `aiaas_tool_policy_decisions_total`.
"""

from __future__ import annotations

import structlog
from temporalio import activity

from agents.sdk import ToolRegistry
from contracts.events import EventType
from contracts.names import ACT_RECORD_POLICY_DECISION
from contracts.provenance import RecordPolicyDecisionInput
from core.events import EventBus
from core.metric_labels import OTHER
from core.telemetry import TOOL_POLICY_DECISIONS

log = structlog.get_logger("aiaas.tools.policy")


class PolicyDecisionActivities:
    def __init__(self, bus: EventBus, registry: ToolRegistry) -> None:
        self._bus = bus
        self._registry = registry

    @activity.defn(name=ACT_RECORD_POLICY_DECISION)
    async def record(self, inp: RecordPolicyDecisionInput) -> None:
        decision = inp.decision
        confirmed = "" if decision.confirmed is None else f":{decision.confirmed}"
        data = {"message_id": inp.message_id, "step": inp.step, **decision.model_dump(mode="json")}
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.TOOL_POLICY,
            data,
            dedup_key=f"{inp.message_id}:policy:{decision.call_id}:{decision.verdict}{confirmed}",
        )
        if activity.info().attempt == 1:
            # A bounded label: a tool the registry does not know (a model's invention) is counted as "other".
            tool = decision.tool if self._registry.get(decision.tool) is not None else OTHER
            TOOL_POLICY_DECISIONS.labels(verdict=decision.verdict.value, tool=tool).inc()
        log.info(
            "tool policy decision",
            tenant_id=inp.tenant_id,
            conversation_id=inp.conversation_id,
            message_id=inp.message_id,
            call_id=decision.call_id,
            tool=decision.tool,
            verdict=decision.verdict.value,
            reason=decision.reason[:300],
        )
