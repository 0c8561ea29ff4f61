"""Conversations: the list (filters, keyset paging), one conversation (transcript, tool calls, approvals, a
live view fed by the API's own event stream), and deciding an approval.

Each handler calls the `/v1` route's function with the session's principal, after the route's own
permission dependency, so what a page shows and refuses is what the API shows and refuses.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response
from fastapi.responses import JSONResponse, RedirectResponse

from agents import steps
from api.deps import ConversationsReadDep
from api.pagination import MAX_LIMIT, PageRequest, cursor_key
from api.routes.approvals import ApprovalDecisionIn, ApprovalsDecideDep, decide, list_approvals
from api.routes.conversation_list import _NAME, _UUID, list_conversations
from api.routes.conversations import get_conversation
from api.routes.stream_tickets import create_stream_ticket
from console.web import PREFIX, ConsoleRoute, CsrfViewerDep, Viewer, ViewerDep, render
from contracts.agents import ApprovalDecisionKind

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 50
Name = Annotated[str | None, Query(max_length=64, pattern=_NAME)]
Cursor = Annotated[str | None, Query(max_length=1024)]


def page_request(viewer: Viewer, cursor: str | None, limit: int = PAGE_SIZE) -> PageRequest:
    pepper = viewer.state.settings.api_key_pepper.get_secret_value()
    return PageRequest(limit=min(limit, MAX_LIMIT), cursor=cursor or None, key=cursor_key(pepper))


def _blank(value: str | None) -> str | None:
    return value or None


@router.get("/")
async def home(viewer: ViewerDep) -> Response:
    target = "tenants" if viewer.principal.tenant_id is None else "conversations"
    return RedirectResponse(f"{PREFIX}/{target}", status_code=303)


@router.get("/conversations")
async def conversations(
    viewer: ViewerDep,
    status: Name = None,
    agent: Name = None,
    channel: Name = None,
    customer_id: Annotated[str | None, Query(pattern=f"({_UUID})?")] = None,
    cursor: Cursor = None,
) -> Response:
    principal = await viewer.check(ConversationsReadDep)
    filters = {"status": _blank(status), "agent": _blank(agent), "channel": _blank(channel)}
    page = await list_conversations(
        principal=principal,
        db=viewer.state.db,
        page=page_request(viewer, cursor),
        status=filters["status"],
        agent=filters["agent"],
        channel=filters["channel"],
        customer_id=_blank(customer_id),
    )
    return render(
        viewer,
        viewer.request,
        "conversations.html",
        page=page,
        filters={**filters, "customer_id": customer_id or ""},
    )


ConversationPath = Annotated[uuid.UUID, "the conversation's id"]


async def _tool_calls(viewer: Viewer, tenant_id: str, conversation_id: str) -> list[dict[str, Any]]:
    async with viewer.state.db.tenant_session(tenant_id) as session:
        calls = await steps.conversation_steps(session, conversation_id)
    return [
        {
            "call_id": c.call_id,
            "tool": c.tool,
            "version": c.version,
            "arguments": json.dumps(c.arguments, sort_keys=True),
            "status": c.status,
            "error_type": c.error_type,
            "message": c.message,
            "attempts": c.attempts,
            "step": c.step,
        }
        for _, c in sorted(calls, key=lambda pair: (pair[1].step, pair[1].call_index))
    ]


@router.get("/conversations/{conversation_id}")
async def conversation(conversation_id: uuid.UUID, viewer: ViewerDep) -> Response:
    principal = await viewer.check(ConversationsReadDep)
    state = viewer.state
    view = await get_conversation(conversation_id, principal, state.db, state.temporal)
    approvals = await list_approvals(conversation_id, principal, state.db, page_request(viewer, None, MAX_LIMIT))
    return render(
        viewer,
        viewer.request,
        "conversation.html",
        conversation=view,
        approvals=approvals.items,
        tool_calls=await _tool_calls(viewer, principal.tenant_id, view.id),
        run_url=viewer.conversation_run_url(view.id),
    )


@router.post("/conversations/{conversation_id}/stream-ticket")
async def stream_ticket(conversation_id: uuid.UUID, viewer: CsrfViewerDep) -> Response:
    """A fresh single-use ticket for the page's EventSource, on first load and on every reconnect."""
    principal = await viewer.check(ConversationsReadDep)
    state = viewer.state
    issued = await create_stream_ticket(conversation_id, principal, state.db, state)
    return JSONResponse(
        {"url": f"/v1/conversations/{conversation_id}/events", "ticket": issued.ticket},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/conversations/{conversation_id}/approvals/{approval_id}")
async def decide_approval(
    conversation_id: uuid.UUID,
    approval_id: uuid.UUID,
    viewer: CsrfViewerDep,
    decision: Annotated[ApprovalDecisionKind, Form()],
    note: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(pattern="^(inbox|conversation)$")] = "conversation",
) -> Response:
    principal = await viewer.check(ApprovalsDecideDep)
    state = viewer.state
    body = ApprovalDecisionIn(decision=decision, note=note)
    await decide(conversation_id, approval_id, body, principal, state.db, state.temporal)
    target = f"{PREFIX}/approvals" if back == "inbox" else f"{PREFIX}/conversations/{conversation_id}"
    return RedirectResponse(target, status_code=303)
