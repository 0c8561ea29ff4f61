"""What admission answers when it refuses, and what it counts either way.

Every refusal is an `ApiError` with the platform's error body; the ones a client should come back from say
when in `Retry-After` and in their details, in the same form `/v1/limits` uses.
"""

from __future__ import annotations

import math
import time

from prometheus_client import Counter, Histogram

from api.errors import ApiError
from core.metric_labels import tenant_label
from policies.quotas import QuotaCheck

DECISIONS = Counter("admission_decisions_total", "Admission decisions", ["decision", "reason", "tenant"])
DECISION_SECONDS = Histogram(
    "admission_decision_seconds",
    "Time to decide admission",
    ["stage"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2.5, 5, 10),
)
BUDGET_BLOCKED = "blocked"


def count_refused(tenant_id: str, reason: str) -> None:
    DECISIONS.labels(decision="refused", reason=reason, tenant=tenant_label(tenant_id)).inc()


def count_admitted(tenant_id: str, reason: str = "ok") -> None:
    DECISIONS.labels(decision="admitted", reason=reason, tenant=tenant_label(tenant_id)).inc()


def overloaded(shedding_level: int, retry_after_seconds: int) -> ApiError:
    return ApiError(
        503,
        "overloaded",
        "the platform is shedding new work; retry later",
        {"shedding_level": shedding_level, "retry_after_seconds": retry_after_seconds},
        headers={"Retry-After": str(retry_after_seconds)},
    )


def budget_exceeded() -> ApiError:
    return ApiError(
        402,
        "budget_exceeded",
        "the tenant's budget for this period is spent; new turns resume when it is raised or renewed",
        {"budget_mode": BUDGET_BLOCKED},
    )


def quota_exceeded(check: QuotaCheck) -> ApiError:
    return ApiError(
        429,
        "quota_exceeded",
        f"the monthly {check.quota.value} quota of this plan is used up",
        {
            "quota": check.quota.value,
            "limit": check.limit,
            "used": check.used,
            # The same form as in `/v1/limits`.
            "resets_at": check.resets_at.isoformat().replace("+00:00", "Z"),
        },
        headers={"Retry-After": str(_seconds_until(check.resets_at.timestamp()))},
    )


def concurrency_limited(limit: int, retry_after_seconds: int) -> ApiError:
    return ApiError(
        429,
        "concurrency_limited",
        f"this plan runs at most {limit} turns at once; retry shortly",
        {"limit": limit, "retry_after_seconds": retry_after_seconds},
        headers={"Retry-After": str(retry_after_seconds)},
    )


def _seconds_until(timestamp: float) -> int:
    return max(1, math.ceil(timestamp - time.time()))
