"""Router canaries' contracts: what `CanaryWorkflow` is started with, what its checks found, how it ended.

A canary puts one model on trial for a share of a tenant's conversations (sticky per conversation, the
router's `Canary`), compares it with the rest of the tenant's traffic from the platform's own records, and
promotes it (its model becomes the tenant's model for its tier) or rolls it back. The rule's numbers are in
`CanaryRule`; the statistics are in `router/canary_rule.py` and docs/router-canaries.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator
from temporalio.common import RetryPolicy

from contracts.agents import AGENT_NAME
from contracts.base import Frozen


class CanaryStatus(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


class CanaryDecision(StrEnum):
    CONTINUE = "continue"  # not enough data, or not yet conclusive
    PROMOTE = "promote"  # no metric is worse than its margin, at the rule's confidence
    ROLL_BACK = "roll_back"  # some metric is worse than its margin, at the rule's confidence


class CanaryRule(Frozen):
    """The comparison's settings: minimum samples, tolerated margins and the error rate of the whole rule."""

    min_turns: int = Field(default=200, ge=30, le=1_000_000, description="turns per arm before any decision")
    min_eval_tasks: int = Field(default=30, ge=10, le=100_000, description="eval tasks per arm to compare pass rates")
    max_error_increase: float = Field(default=0.01, ge=0, le=0.5, description="absolute, e.g. 0.01 = 1 point")
    max_latency_increase: float = Field(default=0.10, ge=0, le=5, description="relative, geometric mean")
    max_cost_increase: float = Field(default=0.10, ge=0, le=5, description="relative, mean cost per turn")
    max_pass_rate_drop: float = Field(default=0.02, ge=0, le=0.5, description="absolute eval pass rate")
    alpha: float = Field(default=0.05, gt=0, le=0.2, description="chance of a wrong decision, all looks together")


ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$")]


MAX_AGENT_VERSION = 2_147_483_647


class ModelSubject(Frozen):
    """A model tried for its tier: the canary's share answers with it when routed to that tier."""

    kind: Literal["model"] = "model"
    model: ModelName


class AgentVersionSubject(Frozen):
    """A saved version of one of the tenant's agents (0: the shipped default), tried instead of the active one."""

    kind: Literal["agent_version"] = "agent_version"
    agent: str = Field(pattern=AGENT_NAME, max_length=40)
    version: int = Field(ge=0, le=MAX_AGENT_VERSION)
    # The version active when the canary started (set by the platform; what a promotion replaces).
    control_version: int | None = Field(default=None, ge=0, le=MAX_AGENT_VERSION)


class RouterThresholdSubject(Frozen):
    """A routing threshold tried instead of the tenant's: small when p(small passes) >= it."""

    kind: Literal["router_threshold"] = "router_threshold"
    threshold: float = Field(gt=0, lt=1)


CanarySubject = Annotated[ModelSubject | AgentVersionSubject | RouterThresholdSubject, Field(discriminator="kind")]


class CanaryRequest(Frozen):
    """What a tenant asks for when it starts a canary (`POST /v1/router/canaries`, `aiaas router canary start`).

    `model` alone is a model canary, as before subjects existed; `subject` names any kind. One of the two."""

    model: ModelName | None = None
    subject: CanarySubject | None = None
    share: float = Field(gt=0, lt=1, description="share of the tenant's conversations, sticky per conversation")
    control_model: ModelName | None = Field(
        default=None, description="the model compared on eval pass rate; default: the tier's current model"
    )
    require_approval: bool = False
    check_every_minutes: int = Field(default=15, ge=1, le=1440)
    max_duration_hours: int = Field(default=168, ge=1, le=24 * 90)
    approval_timeout_hours: int = Field(default=72, ge=1, le=24 * 30)
    rule: CanaryRule = Field(default_factory=CanaryRule)

    @model_validator(mode="after")
    def _one_subject(self) -> CanaryRequest:
        if (self.model is None) == (self.subject is None):
            raise ValueError("name either `model` or `subject`")
        if self.control_model is not None and not isinstance(self.target, ModelSubject):
            raise ValueError("`control_model` is for model canaries")
        return self

    @property
    def target(self) -> ModelSubject | AgentVersionSubject | RouterThresholdSubject:
        if self.subject is not None:
            return self.subject
        assert self.model is not None
        return ModelSubject(model=self.model)


class CanaryInput(Frozen):
    tenant_id: str
    canary_id: str
    require_approval: bool = False
    check_every: timedelta = timedelta(minutes=15)
    max_duration: timedelta = timedelta(days=7)
    # How long a promotion waits for its approval before the canary is rolled back.
    approval_timeout: timedelta = timedelta(days=3)
    # Continue-as-new carries these on: the canary's settings are applied once, and the looks already made.
    begun: bool = False
    checks: int = 0
    deadline: datetime | None = None

    @property
    def planned_looks(self) -> int:
        return max(1, int(self.max_duration / self.check_every))


class CanaryRef(Frozen):
    tenant_id: str
    canary_id: str


class CanaryEvaluateInput(Frozen):
    tenant_id: str
    canary_id: str
    # The rule's confidence is shared out over every look the workflow may make.
    planned_looks: int = Field(ge=1)


class MetricCheck(Frozen):
    metric: str  # error_rate, latency, cost, eval_pass_rate
    canary: float
    control: float
    # Harm: how much worse the canary is (positive: worse), and its two-sided confidence interval.
    harm: float
    low: float
    high: float
    margin: float
    verdict: str  # worse, within_margin, undecided


class CanaryVerdict(Frozen):
    decision: CanaryDecision
    reason: str
    canary_turns: int = 0
    control_turns: int = 0
    canary_eval_tasks: int = 0
    control_eval_tasks: int = 0
    metrics: list[MetricCheck] = Field(default_factory=list)


class CanaryFinishInput(Frozen):
    tenant_id: str
    canary_id: str
    promote: bool
    reason: str
    actor: str = "canary"


class CanaryResult(Frozen):
    canary_id: str
    status: CanaryStatus
    reason: str
    checks: int


class CanaryApproval(Frozen):
    actor: str = Field(default="api", max_length=200)


class CanaryAbort(Frozen):
    actor: str = Field(default="api", max_length=200)
    reason: str = Field(default="aborted", max_length=500)


CANARY_ACTIVITY_TIMEOUT = timedelta(seconds=60)
CANARY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
    non_retryable_error_types=["CanaryNotFound"],
)
