"""Early exit's scenarios: a tenant that opted in asks one question in two conversations; the second run is
answered from the cache (`router.early_exit_lookup` recorded, no model call). And a tenant that opted in to tool
answers asks for an order's status: the order lookup's rendered output answers (`router.tool_answer` recorded, the
`tool-answer` patch marker, one model call)."""

from __future__ import annotations

import dataclasses

from temporalio.client import WorkflowHandle

from contracts.conversation import ConversationInput
from router import settings_store
from router.catalog import catalog_at
from tests.workflows.scenarios import Recording
from tests.workflows.scenarios.conversations import IDLE_SECONDS, _conversation, _plan, _send, _start, _with_customer


async def repeat(rec: Recording) -> list[WorkflowHandle]:
    tenant_id = await rec.new_tenant("replay early exit")
    routing = await settings_store.load(rec.db, tenant_id)
    opted = dataclasses.replace(routing.settings, early_exit=True)
    await settings_store.save(rec.db, tenant_id, opted, catalog_at(rec.settings.router_catalog))
    handles = []
    for text in ("What are your opening hours?", "what are your OPENING hours"):
        cid = await _conversation(rec, tenant_id, "support")
        handle = await _start(
            rec,
            ConversationInput(
                tenant_id=tenant_id, conversation_id=cid, agent="support", idle_timeout_seconds=IDLE_SECONDS
            ),
        )
        await _send(handle, text)
        await handle.result()
        handles.append(handle)
    return handles


async def tool_answer(rec: Recording) -> list[WorkflowHandle]:
    handle, demo = await _with_customer(rec, "orders")
    routing = await settings_store.load(rec.db, demo.tenant_id)
    opted = dataclasses.replace(routing.settings, tool_answers=True)
    await settings_store.save(rec.db, demo.tenant_id, opted, catalog_at(rec.settings.router_catalog))
    await _send(handle, _plan({"tool": "orders.lookup", "args": {"order_id": demo.ada_placed_order_id}}))
    await handle.result()
    return [handle]
