"""A replica timeline for a backlog curve, as KEDA and the Kubernetes HPA would produce it from a ScaledObject.

Modelled after the controllers' documented rules: every `pollingInterval` the Temporal scaler reports the
task-queue backlog; at or below `activationTargetQueueSize` the object is inactive and the Deployment sits at
`minReplicaCount` (zero only after `cooldownPeriod`); otherwise the HPA wants ceil(backlog / targetQueueSize)
pods, clamped to [min, max]. Scale-up is limited by the behaviour's policies (the largest allowed change
under `selectPolicy: Max`), scale-down first by the stabilisation window (the highest recommendation inside
it wins) and then by its policies, measured against the replica count one policy period ago.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    at: int  # seconds
    backlog: int
    replicas: int


def _allowed(policies: list[dict[str, Any]], select: str, base: int, up: bool, history: list[Step], at: int) -> int:
    """The furthest replica count the policies allow from `base` (the count one policy period ago)."""
    limits = []
    for policy in policies:
        then = next((s.replicas for s in reversed(history) if s.at <= at - policy["periodSeconds"]), base)
        change = math.ceil(then * policy["value"] / 100) if policy["type"] == "Percent" else policy["value"]
        limits.append(then + change if up else then - change)
    if not limits:
        return 10**9 if up else 0
    pick = max if (select == "Max") == up else min
    return pick(limits)


def simulate(scaled_object: dict[str, Any], backlog: Callable[[int], int], seconds: int) -> list[Step]:
    spec = scaled_object["spec"]
    meta = spec["triggers"][0]["metadata"]
    target = int(meta["targetQueueSize"])
    activation = int(meta.get("activationTargetQueueSize", "0"))
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    poll, cooldown = spec.get("pollingInterval", 30), spec.get("cooldownPeriod", 300)
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
    up, down = behavior.get("scaleUp", {}), behavior.get("scaleDown", {})
    window = down.get("stabilizationWindowSeconds", 300)

    replicas, last_active = lo, -(10**9)
    recommendations: list[tuple[int, int]] = []
    timeline: list[Step] = []
    for at in range(0, seconds + 1, poll):
        queued = backlog(at)
        if queued > activation:
            last_active = at
            desired = min(hi, max(lo, 1, math.ceil(queued / target)))
        elif lo > 0:
            desired = lo
        else:  # scale to zero only once the object has been inactive for the cooldown
            desired = 0 if at - last_active >= cooldown else replicas
        recommendations = [(t, r) for t, r in recommendations if t > at - window] + [(at, desired)]
        if desired > replicas:
            allowed = _allowed(up.get("policies", []), up.get("selectPolicy", "Max"), replicas, True, timeline, at)
            replicas = min(desired, allowed)
        elif desired < replicas:
            stabilised = max(r for _t, r in recommendations)
            allowed = _allowed(down.get("policies", []), down.get("selectPolicy", "Max"), replicas, False, timeline, at)
            replicas = min(replicas, max(stabilised, allowed))
        timeline.append(Step(at=at, backlog=queued, replicas=replicas))
    return timeline
