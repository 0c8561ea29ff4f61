"""What a task's conversation did, read back from its eval tenant: the transcript with each turn's tool
calls, the world's final state by reference label, approvals asked for, tokens and cost."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from agents import steps, transcripts
from commerce.demo import DemoData
from contracts.eval_runs import ObservedCall, ObservedOrder, ObservedTurn, ObservedWorld
from db.database import run_sql

# Orders that count as placed by the conversation: any new order that was not undone.
_LIVE = ("placed", "shipped", "delivered", "refund_pending", "partially_refunded", "refunded")
_LABELS = ("ada.placed", "ada.shipped", "bob.placed", "bob.shipped")


def references(demo: DemoData) -> dict[str, str]:
    """`{kind:name}` reference -> id in this world."""
    orders = demo.summary()["orders"]
    refs = {f"order:{label}": orders[label] for label in _LABELS}
    refs.update({"customer:ada": demo.ada_id, "customer:bob": demo.bob_id})
    refs.update({f"sku:{sku}": sku for sku in demo.skus})
    return refs


async def _rows(session: AsyncSession, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in (await run_sql(session, sql, params)).mappings().all()]


async def transcript(session: AsyncSession, conversation_id: str) -> list[ObservedTurn]:
    messages = await transcripts.transcript(session, conversation_id=conversation_id)
    calls = await steps.conversation_steps(session, conversation_id)
    answers = {m.reply_to: m.content for m in messages if m.role == "assistant"}
    turns = []
    for message in messages:
        if message.role != "user":
            continue
        turns.append(
            ObservedTurn(
                user=message.content,
                answer=answers.get(message.id, ""),
                calls=[
                    ObservedCall(tool=c.tool, arguments=c.arguments, status=c.status, error_type=c.error_type)
                    for message_id, c in calls
                    if message_id == message.id
                ],
            )
        )
    return turns


async def world(session: AsyncSession, refs: dict[str, str], conversation_id: str) -> ObservedWorld:
    labels = {ident: ref.split(":", 1)[1] for ref, ident in refs.items() if ref.startswith("order:")}
    orders = await _rows(session, "SELECT id, status, refunded_cents FROM orders")
    seeded = {
        labels[o["id"]]: ObservedOrder(status=o["status"], refunded_cents=o["refunded_cents"])
        for o in orders
        if o["id"] in labels
    }
    placed = sum(1 for o in orders if o["id"] not in labels and o["status"] in _LIVE)
    counts = (
        (
            await run_sql(
                session,
                "SELECT (SELECT count(*) FROM tickets) AS tickets, (SELECT count(*) FROM leads) AS leads,"
                " (SELECT count(*) FROM approvals WHERE conversation_id = :c) AS approvals",
                {"c": conversation_id},
            )
        )
        .mappings()
        .one()
    )
    return ObservedWorld(
        orders=seeded,
        tickets_opened=int(counts["tickets"]),
        leads_captured=int(counts["leads"]),
        orders_placed=placed,
        approvals_requested=int(counts["approvals"]),
    )


async def usage(session: AsyncSession, conversation_id: str) -> tuple[int, int, float, str]:
    row = (
        (
            await run_sql(
                session,
                "SELECT coalesce(sum(prompt_tokens), 0) AS pt, coalesce(sum(completion_tokens), 0) AS ct,"
                " coalesce(sum(cost_usd), 0) AS cost, coalesce(max(model), '') AS model FROM usage_ledger"
                " WHERE conversation_id = :c AND status = 'settled' AND kind = 'model'",
                {"c": conversation_id},
            )
        )
        .mappings()
        .one()
    )
    return int(row["pt"]), int(row["ct"]), float(row["cost"]), str(row["model"])
