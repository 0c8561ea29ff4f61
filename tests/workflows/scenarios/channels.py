"""A conversation on a provider channel: the answer goes back through the channel as the `channels.send_reply`
activity, to a loopback provider that fails the first attempt, so the history holds the retry."""

from __future__ import annotations

import json
import uuid

from temporalio.client import WorkflowHandle

from channels import store
from channels.secrets import ChannelSecrets
from contracts.channels import ChannelKind
from contracts.conversation import ConversationInput, SubmitMessage, conversation_workflow_id
from core.crypto.secretbox import build_keyring
from db.database import run_sql
from tests.webhooks.receiver import Receiver
from tests.workflows.scenarios import Recording
from workflows.conversation import ConversationWorkflow

IDLE_SECONDS = 2.0


async def sms_reply(rec: Recording) -> list[WorkflowHandle]:
    tenant_id = await rec.new_tenant("replay channels")
    channel_id, customer_id, conversation_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    with Receiver(plan=lambda path, nth, headers: (503, {}) if nth == 1 else (201, {})) as provider:
        token = await ChannelSecrets(build_keyring(rec.db, rec.settings)).seal(tenant_id, channel_id, "token", "tok-1")
        async with rec.db.tenant_session(tenant_id) as session:
            await store.create_channel(
                session, tenant_id, channel_id=channel_id, kind=ChannelKind.SMS, name="sms", agent="support",
                provider_url=provider.url(""), settings={"account_sid": "AC1"}, secret_ciphertext=token,
                token_ciphertext=token, public_key=None,
            )  # fmt: skip
            await run_sql(
                session,
                "INSERT INTO customers (id, tenant_id, email, name, phone)"
                " VALUES (:id, :tid, :e, 'sms', '+15550000001')",
                {"id": customer_id, "tid": tenant_id, "e": f"sms.{customer_id}@sms.channel.invalid"},
            )
            await run_sql(
                session,
                "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
                " customer_id, created_at, updated_at) VALUES (:id, :tid, 'support', 'sms', CAST(:m AS jsonb),"
                " 'enqueue', 'open', :c, now(), now())",
                {
                    "id": conversation_id,
                    "tid": tenant_id,
                    "m": json.dumps({"channel_id": channel_id}),
                    "c": customer_id,
                },
            )
            await store.add_identity(
                session,
                tenant_id,
                channel_id,
                store.Identity(customer_id, conversation_id, "+15550000001", "+15559990000"),
            )
        handle = await rec.client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                customer_id=customer_id,
                channel=ChannelKind.SMS,
                idle_timeout_seconds=IDLE_SECONDS,
            ),
            id=conversation_workflow_id(tenant_id, conversation_id),
            task_queue=rec.queue,
        )
        await handle.execute_update(
            ConversationWorkflow.submit_message, SubmitMessage(message_id=str(uuid.uuid4()), content="hello by sms")
        )
        await handle.result()
        assert [r.status for r in provider.received] == [503, 201], provider.received
    return [handle]
