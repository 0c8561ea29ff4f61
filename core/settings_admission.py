"""Settings of admission: how long a plan is trusted, concurrent-turn leases, load shedding by the task
queue's backlog, and the rate and fair queue of starts on the engine. Part of `core.settings.Settings` (read
with its `AIAAS_` prefix). Per-plan numbers (rates, quotas, concurrent turns) live in `tenancy/data/plans.json`.
"""

from __future__ import annotations

from itertools import pairwise

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings


class StartRateSetting(BaseModel):
    """A plan's engine start rate set by settings (`AIAAS_START_RATES`), in place of the plan file's."""

    per_minute: float = Field(gt=0)
    burst: int = Field(ge=1)


class AdmissionSettings(BaseSettings):
    # How long a gateway trusts its copy of a tenant's plan: the delay before a plan change applies.
    admission_plan_cache_seconds: float = Field(default=30.0, ge=0)
    # A concurrent-turn lease not released by then (its holder died) frees itself.
    concurrency_lease_ttl_seconds: float = Field(default=300.0, gt=0)
    concurrency_retry_after_seconds: int = Field(default=2, ge=1)
    # Load shedding reads the conversation task queue's backlog this often. Level n (1-based) engages when
    # the backlog reaches `shed_backlog_counts[n-1]` tasks or its oldest task has waited
    # `shed_backlog_age_seconds[n-1]`, and sheds new turns of plans whose `shed_rank` is n or lower. A level
    # is left once the backlog has stayed below `shed_recover_ratio` of its thresholds for
    # `shed_recover_samples` samples in a row, so a signal hovering at a threshold does not flap.
    shed_sample_seconds: float = Field(default=1.0, gt=0)
    shed_backlog_counts: list[int] = Field(default_factory=lambda: [500, 2000, 10000])
    shed_backlog_age_seconds: list[float] = Field(default_factory=lambda: [15.0, 60.0, 300.0])
    shed_recover_ratio: float = Field(default=0.5, gt=0, le=1)
    shed_recover_samples: int = Field(default=3, ge=1)
    shed_retry_after_seconds: int = Field(default=10, ge=1)
    # Starts on the engine (`api.admission.starts`): a plan's start rate in place of the plan file's, e.g.
    # `AIAAS_START_RATES='{"pro": {"per_minute": 600, "burst": 60}}'`; and each gateway's fair start queue:
    # engine calls at once, starts one tenant may have waiting, and how long one may wait before its 429.
    start_rates: dict[str, StartRateSetting] = Field(default_factory=dict)
    start_queue_in_flight: int = Field(default=16, ge=1)
    # The width follows the engine's latency between `start_queue_min_in_flight` and `start_queue_in_flight`
    # (`policies/start_limit.py`; a minimum above the maximum is the maximum); off, it stays at the maximum.
    start_queue_adaptive: bool = True
    start_queue_min_in_flight: int = Field(default=2, ge=1)
    start_queue_per_tenant: int = Field(default=200, ge=0)
    start_queue_wait_seconds: float = Field(default=10.0, ge=0)
    # How long a start from a channel webhook or the SMTP receiver waits out start refusals before it is refused.
    channel_start_patience_seconds: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _check_shedding(self) -> AdmissionSettings:
        counts, ages = self.shed_backlog_counts, self.shed_backlog_age_seconds
        if not counts or len(counts) != len(ages):
            raise ValueError("AIAAS_SHED_BACKLOG_COUNTS and AIAAS_SHED_BACKLOG_AGE_SECONDS need one entry per level")
        for levels in (counts, ages):
            if any(value <= 0 for value in levels) or any(a >= b for a, b in pairwise(levels)):
                raise ValueError("shedding thresholds must be positive and rise from level to level")
        return self
