"""Starting a delivery workflow, from the publish activity and from the gateway (redeliver, test ping).

The workflow is named by `contracts.names`, not imported: this package sits below `workflows/`. The run id
is derived from the delivery id and a repeated start of a delivery whose run already finished is refused
(`REJECT_DUPLICATE`), so a retried publish never sends a message twice; a redelivery is a new delivery.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from contracts.names import WF_WEBHOOK_DELIVERY
from contracts.search_attributes import TENANT_ID
from contracts.webhooks import WebhookDeliveryInput, delivery_workflow_id


async def start_delivery(
    client: Client, task_queue: str, inp: WebhookDeliveryInput, *, search_attributes: bool = True
) -> bool:
    """Start the delivery's run; False when it was started before (running or finished)."""
    try:
        await client.start_workflow(
            WF_WEBHOOK_DELIVERY,
            inp,
            id=delivery_workflow_id(inp.tenant_id, inp.delivery_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=(
                TypedSearchAttributes([SearchAttributePair(TENANT_ID, inp.tenant_id)]) if search_attributes else None
            ),
            static_summary=f"Webhook delivery {inp.delivery_id}",
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
