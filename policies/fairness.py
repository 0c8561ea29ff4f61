"""How a tenant's work is ordered on the engine: Temporal task-queue priority and fairness.

Priority (1 is served first) comes from the tenant's plan, so a backlog serves enterprise turns before free
ones. Within one priority level, the fairness key is the tenant: the matching service dispatches the
backlogged keys in weighted round-robin, so a tenant that floods the queue gets its weighted share rather
than every worker slot. Activities and child workflows inherit the workflow's priority, so setting it where
a conversation starts covers every model call, tool call and saga of its turns.

The server must run with fairness on (`matching.enableFairness`; see `core/stack/temporal.py` and
`infra/temporal/values.yaml`); without it the keys are accepted and ignored, and dispatch within a priority
level is first-in first-out.
"""

from __future__ import annotations

from temporalio.common import Priority

# Temporal's limit for a fairness key.
MAX_FAIRNESS_KEY_BYTES = 64


def fairness_key(tenant_id: str) -> str:
    key = tenant_id.encode()[:MAX_FAIRNESS_KEY_BYTES]
    return key.decode(errors="ignore")


def priority_for(tenant_id: str, *, queue_priority: int, fairness_weight: float) -> Priority:
    """The priority every run started for `tenant_id` carries, from its plan's limits."""
    if not 1 <= queue_priority <= 5:
        raise ValueError("queue_priority must be within 1..5")
    if fairness_weight <= 0:
        raise ValueError("fairness_weight must be positive")
    return Priority(
        priority_key=queue_priority,
        fairness_key=fairness_key(tenant_id),
        fairness_weight=fairness_weight,
    )
