"""The commerce sagas on a real stack, for the tests, the history recorder and the benchmark.

A worker on a task queue of its own runs `PlaceOrderWorkflow` and `RefundWorkflow` with the platform's tool
activities (every registered tool through the tool runtime, plus `events.publish`). A tenant is created and
seeded with the demo catalog; `world()` reads back everything a saga may change, so a test compares the
world before and after instead of trusting the saga's own answer.
"""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import gc
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

import commerce.sagas  # noqa: F401  (registers orders.place/refund and their step tools)
from agents.sdk import ToolRegistry
from agents.sealed_records import TICKETS, open_fields
from app.tools import worker_tools
from commerce.demo import DemoData, seed_demo
from contracts.names import WF_PLACE_ORDER, WF_REFUND
from contracts.tool_calls import ToolCallInput, ToolCallResult, idempotency_key
from core.events import EventBus
from core.settings import Settings
from db.codec import connect
from db.database import Database, run_sql
from policies.metering import build_metering
from tenancy.tenants import create_tenant
from workflows.place_order import PlaceOrderWorkflow
from workflows.refund import RefundWorkflow

SAGA_WORKFLOWS: list[type] = [PlaceOrderWorkflow, RefundWorkflow]
WORKFLOW_OF = {"orders.place": WF_PLACE_ORDER, "orders.refund": WF_REFUND}


@dataclass
class SagaEnv:
    settings: Settings
    client: Client
    db: Database
    bus: EventBus
    task_queue: str
    worker: Worker | None = None


@asynccontextmanager
async def saga_env(
    settings: Settings,
    *,
    task_queue: str,
    with_worker: bool = True,
    metered: bool = False,
    registry: ToolRegistry | None = None,
) -> AsyncIterator[SagaEnv]:
    """A client, the app database, the event bus and (unless `with_worker=False`) a worker, all closed on exit.

    `metered` bills priced tools as the platform's worker does; `registry` replaces the platform's tools.
    """
    db = Database(settings.resolved_app_database_url(), pool_size=5)
    redis = Redis.from_url(settings.redis_url or "", decode_responses=False)
    bus = EventBus(redis)
    metering = build_metering(db, redis, bus, settings) if metered else None
    tools = worker_tools(db, redis, bus, settings, metering=metering, registry=registry)
    try:
        client = await connect(settings, db=db)
        env = SagaEnv(settings=settings, client=client, db=db, bus=bus, task_queue=task_queue)
        if with_worker:
            # Validating the workflows imports their modules in the sandbox; a finalizer of an earlier test's
            # worker that imports while that runs can trip CPython 3.11's import-lock bookkeeping (a KeyError
            # from `_blocking_on`), so the garbage is collected before, not during.
            gc.collect()
            env.worker = Worker(
                client,
                task_queue=task_queue,
                workflows=SAGA_WORKFLOWS,
                activities=tools.activities,
                max_concurrent_activities=100,
            )
        yield env
    finally:
        await tools.close()
        await db.close()
        await redis.aclose()


@dataclass(frozen=True)
class Shop:
    """A seeded tenant: its id, the demo data, the customer the sagas act for, and skus with stock to order."""

    tenant_id: str
    demo: DemoData
    customer_id: str
    skus: list[str]
    prices: dict[str, int]


async def new_shop(settings: Settings, db: Database, name: str = "Saga shop") -> Shop:
    created = await create_tenant(
        settings.database_url or "",
        name=f"{name} {uuid.uuid4().hex[:6]}",
        plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    tenant_id = created.tenant_id
    demo = await seed_demo(db, tenant_id)
    async with db.tenant_session(tenant_id) as session:
        rows = (
            await run_sql(
                session,
                "SELECT sku, price_cents FROM products WHERE on_hand - reserved >= 10 AND price_cents > 0"
                " AND price_cents <= 5000 ORDER BY sku LIMIT 3",
            )
        ).all()
    assert len(rows) >= 2, "the demo catalog needs at least two products in stock"
    return Shop(tenant_id, demo, demo.ada_id, [r.sku for r in rows], {r.sku: int(r.price_cents) for r in rows})


@dataclass(frozen=True)
class SagaRun:
    workflow_id: str
    conversation_id: str
    call: ToolCallInput


def saga_call(shop: Shop, tool: str, arguments: dict[str, Any], *, workflow_id: str | None = None) -> SagaRun:
    workflow_id = workflow_id or f"{shop.tenant_id}:saga:{uuid.uuid4().hex}"
    conversation_id = str(uuid.uuid4())
    call = ToolCallInput(
        tenant_id=shop.tenant_id,
        conversation_id=conversation_id,
        message_id=str(uuid.uuid4()),
        call_id=f"call-{uuid.uuid4().hex[:8]}",
        tool=tool,
        arguments=arguments,
        agent="orders",
        customer_id=shop.customer_id,
        idempotency_key="",
    )
    call = call.model_copy(update={"idempotency_key": idempotency_key(workflow_id, call.call_id)})
    return SagaRun(workflow_id=workflow_id, conversation_id=conversation_id, call=call)


async def start_saga(env: SagaEnv, run: SagaRun) -> WorkflowHandle[Any, ToolCallResult]:
    return await env.client.start_workflow(
        WORKFLOW_OF[run.call.tool], run.call, id=run.workflow_id, task_queue=env.task_queue, result_type=ToolCallResult
    )


async def run_saga(env: SagaEnv, run: SagaRun) -> ToolCallResult:
    return await (await start_saga(env, run)).result()


async def place(env: SagaEnv, shop: Shop, items: dict[str, int] | None = None) -> tuple[SagaRun, ToolCallResult]:
    items = items or {shop.skus[0]: 2, shop.skus[1]: 1}
    run = saga_call(shop, "orders.place", {"items": [{"sku": s, "quantity": q} for s, q in items.items()]})
    return run, await run_saga(env, run)


# ---- the world a saga changes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    stock: dict[str, tuple[int, int]]  # sku -> (on_hand, reserved)
    orders: dict[str, tuple[str, int]]  # order id -> (status, refunded_cents)
    net_charged: dict[str, int]  # order id -> charged minus refunded
    charges: dict[str, int]  # order id -> number of charges
    refunds: dict[str, int]  # order id -> number of refunds
    shipments: dict[str, list[str]]  # order id -> statuses of its shipments rows
    labels: dict[str, list[str]]  # order id -> statuses of its carrier labels
    held: int  # reservations still held
    tickets: list[tuple[str, str]]  # (kind, body) of every ticket


async def world(db: Database, tenant_id: str) -> World:
    async with db.tenant_session(tenant_id) as s:
        stock = {r.sku: (int(r.on_hand), int(r.reserved)) for r in await run_sql(s, "SELECT * FROM products")}
        orders = {r.id: (r.status, int(r.refunded_cents)) for r in await run_sql(s, "SELECT * FROM orders")}
        payments = (await run_sql(s, "SELECT order_id, kind, amount_cents FROM sandbox_payments")).all()
        shipments = (await run_sql(s, "SELECT order_id, status FROM shipments ORDER BY created_at")).all()
        labels = (await run_sql(s, "SELECT order_id, status FROM sandbox_shipments ORDER BY created_at")).all()
        held = (await run_sql(s, "SELECT count(*) FROM reservations WHERE status = 'held'")).scalar_one()
        tickets = [
            (t.kind, (await open_fields(s, TICKETS, t))["body"])
            for t in await run_sql(s, f"SELECT kind, {TICKETS.columns} FROM tickets ORDER BY created_at")
        ]
    net: dict[str, int] = {}
    charges: dict[str, int] = {}
    refunds: dict[str, int] = {}
    for p in payments:
        sign = 1 if p.kind == "charge" else -1
        net[p.order_id] = net.get(p.order_id, 0) + sign * int(p.amount_cents)
        counter = charges if p.kind == "charge" else refunds
        counter[p.order_id] = counter.get(p.order_id, 0) + 1
    return World(
        stock=stock,
        orders=orders,
        net_charged=net,
        charges=charges,
        refunds=refunds,
        shipments=_grouped(shipments),
        labels=_grouped(labels),
        held=int(held),
        tickets=tickets,
    )


def _grouped(rows: Any) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for r in rows:
        grouped.setdefault(r.order_id, []).append(r.status)
    return grouped


async def event_types(env: SagaEnv, tenant_id: str, conversation_id: str) -> list[str]:
    return [e.type for e in await env.bus.history(tenant_id, conversation_id)]


async def events(env: SagaEnv, tenant_id: str, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.data) for e in await env.bus.history(tenant_id, conversation_id)]
