"""Every workflow the platform runs: the worker registers these and the replay tests replay them."""

from __future__ import annotations

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

WORKFLOWS: tuple[type, ...] = (
    ConversationWorkflow,
    TenantLifecycleWorkflow,
    PlaceOrderWorkflow,
    RefundWorkflow,
    IngestDocumentWorkflow,
    NightlyDriftWorkflow,
    WebhookDeliveryWorkflow,
    ErasureWorkflow,
    RetentionWorkflow,
    EvalRunWorkflow,
    EvalTaskWorkflow,
    DrDrillWorkflow,
)
WORKFLOWS += (SubscriptionWorkflow,)
WORKFLOWS += (SignupWorkflow,)
WORKFLOWS += (KeyRotationWorkflow,)
WORKFLOWS += (CanaryWorkflow,)
WORKFLOWS += (ReembedCollectionWorkflow,)
WORKFLOWS += (MailWorkflow,)
