"""The event vocabulary: every type a conversation's event stream carries, spelled once.

Clients read these names on SSE and WebSocket; activities and workflows publish them. Add members, never
rename one: a client or a recorded history may hold the old spelling.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    MESSAGE_ACCEPTED = "message.accepted"
    TURN_STARTED = "turn.started"
    TOKEN = "token"
    MESSAGE_COMPLETED = "message.completed"
    TURN_FAILED = "turn.failed"
    TURN_CUT = "turn.cut"
    TOOL_STARTED = "tool.started"
    TOOL_COMPLETED = "tool.completed"
    TOOL_FAILED = "tool.failed"
    TOOL_UNAVAILABLE = "tool.unavailable"
    SAGA_COMPENSATING = "saga.compensating"
    SAGA_COMPENSATED = "saga.compensated"
    SAGA_NEEDS_ATTENTION = "saga.needs_attention"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_RESOLVED = "approval.resolved"
    AGENT_HANDOFF = "agent.handoff"
    BUDGET_THRESHOLD = "budget.threshold"
    TOOL_POLICY = "tool.policy"
    CONFIRMATION_REQUESTED = "confirmation.requested"
    CONFIRMATION_RESOLVED = "confirmation.resolved"
    # Model routing: the decision before a model call, and a move to the next model of its chain.
    ROUTE_DECIDED = "route.decided"
    MODEL_FALLBACK = "model.fallback"
    INGEST_PROGRESS = "ingest.progress"
    INGEST_COMPLETED = "ingest.completed"
    INGEST_FAILED = "ingest.failed"
    REEMBED_PROGRESS = "reembed.progress"
    REEMBED_COMPLETED = "reembed.completed"
    REEMBED_FAILED = "reembed.failed"
    REEMBED_CANCELLED = "reembed.cancelled"
    DRIFT_DETECTED = "drift.detected"
    # A router canary's end, on the tenant's `_operations` stream.
    CANARY_PROMOTED = "canary.promoted"
    CANARY_ROLLED_BACK = "canary.rolled_back"
    # Disaster-recovery drills, on the platform's `_operations` stream (tenant `platform`).
    DR_DRILL_FINISHED = "dr.drill.finished"
    DR_DRILL_FAILED = "dr.drill.failed"
