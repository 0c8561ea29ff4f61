"""Every workflow type with its Worker Versioning behaviour, for workers that run as a deployment version.

The server refuses a behaviour from an unversioned worker ("versioning behavior cannot be specified without
deployment options"), so the workflow classes themselves declare none and unversioned workers (`aiaas up`,
the tests) run them as before. A worker with a build id registers these subclasses instead
(`app/worker_versioning.py`): same names, same code, each with the behaviour chosen for its type:

- pinned: a run finishes on the code it started with, so a deploy never replays it on new code. Conversations
  are pinned and move to a new current version at continue-as-new (`ConversationWorkflow._should_continue_as_new`);
  sagas' compensations run on the code that took their steps; the jobs finish within hours.
- auto-upgrade: the types that wait days to a month on timers (webhook retries, a retention period, a billing
  period), where pinning would keep an old version's workers up that long; their changes ship behind
  `workflow.patched`, which the replay tests check.

Details: docs/operations.md, "Safe deploys".
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

from workflows.canary import CanaryWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.dr_drill import DrDrillWorkflow
from workflows.erasure import ErasureWorkflow
from workflows.eval_run import EvalRunWorkflow, EvalTaskWorkflow
from workflows.ingest_document import IngestDocumentWorkflow
from workflows.key_rotation import KeyRotationWorkflow
from workflows.mail import MailWorkflow
from workflows.nightly_drift import NightlyDriftWorkflow
from workflows.place_order import PlaceOrderWorkflow
from workflows.reembed_collection import ReembedCollectionWorkflow
from workflows.refund import RefundWorkflow
from workflows.retention import RetentionWorkflow
from workflows.signup import SignupWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.tenant_lifecycle import TenantLifecycleWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

with workflow.unsafe.imports_passed_through():
    from contracts.billing import SubscriptionInput, SubscriptionState
    from contracts.canary import CanaryInput, CanaryResult
    from contracts.conversation import ConversationInput, ConversationResult
    from contracts.dr import DrDrillInput, DrDrillReport
    from contracts.drift import NightlyDriftInput, NightlyDriftResult
    from contracts.eval_runs import EvalRunInput, EvalRunResult, EvalTaskInput, TaskGrade
    from contracts.key_rotation import KeyRotationInput, KeyRotationProgress
    from contracts.knowledge import IngestDocumentInput, IngestDocumentResult
    from contracts.knowledge_reembed import ReembedInput, ReembedResult
    from contracts.lifecycle import TenantLifecycleInput, TenantLifecycleResult
    from contracts.names import (
        WF_CONVERSATION,
        WF_DR_DRILL,
        WF_ERASURE,
        WF_EVAL_RUN,
        WF_EVAL_TASK,
        WF_INGEST_DOCUMENT,
        WF_KEY_ROTATION,
        WF_MAIL,
        WF_NIGHTLY_DRIFT,
        WF_PLACE_ORDER,
        WF_REEMBED_COLLECTION,
        WF_REFUND,
        WF_RETENTION,
        WF_ROUTER_CANARY,
        WF_SIGNUP,
        WF_SUBSCRIPTION,
        WF_TENANT_LIFECYCLE,
        WF_WEBHOOK_DELIVERY,
    )
    from contracts.privacy import ErasureInput, ErasureResult, RetentionInput, RetentionResult
    from contracts.signup import SendMailInput, SignupInput, SignupResult
    from contracts.tool_calls import ToolCallInput, ToolCallResult
    from contracts.webhooks import WebhookDeliveryInput, WebhookDeliveryResult

PINNED = VersioningBehavior.PINNED
AUTO_UPGRADE = VersioningBehavior.AUTO_UPGRADE


@workflow.defn(name=WF_CONVERSATION, versioning_behavior=PINNED)
class PinnedConversationWorkflow(ConversationWorkflow):
    @workflow.run
    async def run(self, inp: ConversationInput) -> ConversationResult:
        return await super().run(inp)


@workflow.defn(name=WF_PLACE_ORDER, versioning_behavior=PINNED)
class PinnedPlaceOrderWorkflow(PlaceOrderWorkflow):
    @workflow.run
    async def run(self, inp: ToolCallInput) -> ToolCallResult:
        return await super().run(inp)


@workflow.defn(name=WF_REFUND, versioning_behavior=PINNED)
class PinnedRefundWorkflow(RefundWorkflow):
    @workflow.run
    async def run(self, inp: ToolCallInput) -> ToolCallResult:
        return await super().run(inp)


@workflow.defn(name=WF_ERASURE, versioning_behavior=PINNED)
class PinnedErasureWorkflow(ErasureWorkflow):
    @workflow.run
    async def run(self, inp: ErasureInput) -> ErasureResult:
        return await super().run(inp)


@workflow.defn(name=WF_INGEST_DOCUMENT, versioning_behavior=PINNED)
class PinnedIngestDocumentWorkflow(IngestDocumentWorkflow):
    @workflow.run
    async def run(self, inp: IngestDocumentInput) -> IngestDocumentResult:
        return await super().run(inp)


# A re-embed runs minutes to hours on the code it started with.
@workflow.defn(name=WF_REEMBED_COLLECTION, versioning_behavior=PINNED)
class PinnedReembedCollectionWorkflow(ReembedCollectionWorkflow):
    @workflow.run
    async def run(self, inp: ReembedInput) -> ReembedResult:
        return await super().run(inp)


@workflow.defn(name=WF_NIGHTLY_DRIFT, versioning_behavior=PINNED)
class PinnedNightlyDriftWorkflow(NightlyDriftWorkflow):
    @workflow.run
    async def run(self, inp: NightlyDriftInput) -> NightlyDriftResult:
        return await super().run(inp)


@workflow.defn(name=WF_RETENTION, versioning_behavior=PINNED)
class PinnedRetentionWorkflow(RetentionWorkflow):
    @workflow.run
    async def run(self, inp: RetentionInput) -> RetentionResult:
        return await super().run(inp)


@workflow.defn(name=WF_EVAL_RUN, versioning_behavior=PINNED)
class PinnedEvalRunWorkflow(EvalRunWorkflow):
    @workflow.run
    async def run(self, inp: EvalRunInput) -> EvalRunResult:
        return await super().run(inp)


@workflow.defn(name=WF_EVAL_TASK, versioning_behavior=PINNED)
class PinnedEvalTaskWorkflow(EvalTaskWorkflow):
    @workflow.run
    async def run(self, inp: EvalTaskInput) -> TaskGrade:
        return await super().run(inp)


@workflow.defn(name=WF_DR_DRILL, versioning_behavior=PINNED)
class PinnedDrDrillWorkflow(DrDrillWorkflow):
    @workflow.run
    async def run(self, inp: DrDrillInput) -> DrDrillReport:
        return await super().run(inp)


@workflow.defn(name=WF_KEY_ROTATION, versioning_behavior=PINNED)
class PinnedKeyRotationWorkflow(KeyRotationWorkflow):
    @workflow.run
    async def run(self, inp: KeyRotationInput) -> KeyRotationProgress:
        return await super().run(inp)


# A signup waits at most its link's lifetime (a day) for the verification, so it finishes on its own code.
@workflow.defn(name=WF_SIGNUP, versioning_behavior=PINNED)
class PinnedSignupWorkflow(SignupWorkflow):
    @workflow.run
    async def run(self, inp: SignupInput) -> SignupResult:
        return await super().run(inp)


# A mail is one activity with the outbox's retries (about a day at most): it finishes on its own code.
@workflow.defn(name=WF_MAIL, versioning_behavior=PINNED)
class PinnedMailWorkflow(MailWorkflow):
    @workflow.run
    async def run(self, inp: SendMailInput) -> None:
        return await super().run(inp)


@workflow.defn(name=WF_SUBSCRIPTION, versioning_behavior=AUTO_UPGRADE)
class UpgradingSubscriptionWorkflow(SubscriptionWorkflow):
    @workflow.run
    async def run(self, inp: SubscriptionInput) -> SubscriptionState:
        return await super().run(inp)


@workflow.defn(name=WF_TENANT_LIFECYCLE, versioning_behavior=AUTO_UPGRADE)
class UpgradingTenantLifecycleWorkflow(TenantLifecycleWorkflow):
    @workflow.run
    async def run(self, inp: TenantLifecycleInput) -> TenantLifecycleResult:
        return await super().run(inp)


@workflow.defn(name=WF_WEBHOOK_DELIVERY, versioning_behavior=AUTO_UPGRADE)
class UpgradingWebhookDeliveryWorkflow(WebhookDeliveryWorkflow):
    @workflow.run
    async def run(self, inp: WebhookDeliveryInput) -> WebhookDeliveryResult:
        return await super().run(inp)


# A canary looks every few minutes for up to weeks: it follows new code, its changes behind `workflow.patched`.
@workflow.defn(name=WF_ROUTER_CANARY, versioning_behavior=AUTO_UPGRADE)
class UpgradingCanaryWorkflow(CanaryWorkflow):
    @workflow.run
    async def run(self, inp: CanaryInput) -> CanaryResult:
        return await super().run(inp)


VERSIONED: tuple[type, ...] = (
    PinnedConversationWorkflow,
    PinnedPlaceOrderWorkflow,
    PinnedRefundWorkflow,
    PinnedErasureWorkflow,
    PinnedIngestDocumentWorkflow,
    PinnedReembedCollectionWorkflow,
    PinnedNightlyDriftWorkflow,
    PinnedRetentionWorkflow,
    PinnedEvalRunWorkflow,
    PinnedEvalTaskWorkflow,
    PinnedDrDrillWorkflow,
    PinnedKeyRotationWorkflow,
    PinnedSignupWorkflow,
    PinnedMailWorkflow,
    UpgradingSubscriptionWorkflow,
    UpgradingTenantLifecycleWorkflow,
    UpgradingWebhookDeliveryWorkflow,
    UpgradingCanaryWorkflow,
)
