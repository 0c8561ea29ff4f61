"""Helpers for the agent-loop end-to-end tests: a seeded shop per tenant, plans for the scripted model, and
looks behind the API into Postgres (through the app role, so row-level security applies as in production).

The shipped agents run on `scripted/agent` here (`tests/e2e/platform.py`), which follows a `PLAN: [...]`
in the customer's message: `{"tool": name, "args": {...}}` calls a tool, `{"say": text}` answers,
`{"loop": [...]}` repeats forever. Without a `say` at the end it answers `done: <tool>=<status>`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from agents.sealed_records import ORDERS, open_fields, write_fields
from commerce.demo import DemoData, seed_demo
from core.settings import Settings
from db.database import Database, run_sql
from tenancy.tenants import create_tenant
from tests.e2e.platform import Platform
from tests.e2e.sse import Frame, events_of, read_frames

T = TypeVar("T")


@dataclass(frozen=True)
class Shop:
    """A tenant of its own with the demo shop seeded, and a client holding its owner key."""

    demo: DemoData
    api: httpx.Client
    base_url: str

    @property
    def tenant_id(self) -> str:
        return self.demo.tenant_id

    def client(self, key: str) -> httpx.Client:
        """A client acting with another key of this tenant; the caller closes it."""
        return _client(self.base_url, key)


def _client(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@contextmanager
def fresh_shop(platform: Platform, label: str) -> Iterator[Shop]:
    """A new tenant per test module: orders placed, refunded or escalated here touch nobody else's data or
    limits."""
    settings = platform.settings
    created = asyncio.run(
        create_tenant(
            settings.database_url or "",
            name=f"{label} {uuid.uuid4().hex[:6]}",
            plan="pro",
            pepper=settings.api_key_pepper.get_secret_value(),
        )
    )
    demo = seed(settings, created.tenant_id)
    with _client(platform.base_url, created.api_key) as api:
        yield Shop(demo=demo, api=api, base_url=platform.base_url)


def plan(*items: dict[str, Any]) -> str:
    return "PLAN: " + json.dumps(list(items))


def call(tool: str, **args: Any) -> dict[str, Any]:
    return {"tool": tool, "args": args}


def run_db(settings: Settings, work: Callable[[Database], Coroutine[Any, Any, T]]) -> T:
    """Run `work` against the app database from a sync test (a fresh pool per call, closed after)."""

    async def go() -> T:
        db = Database(settings.resolved_app_database_url(), pool_size=1)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(go())


def seed(settings: Settings, tenant_id: str) -> DemoData:
    return run_db(settings, lambda db: seed_demo(db, tenant_id))


def rows(settings: Settings, tenant_id: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    async def query(db: Database) -> list[dict[str, Any]]:
        async with db.tenant_session(tenant_id) as session:
            return [dict(r) for r in (await run_sql(session, sql, params)).mappings().all()]

    return run_db(settings, query)


def execute(settings: Settings, tenant_id: str, sql: str, **params: Any) -> None:
    async def write(db: Database) -> None:
        async with db.tenant_session(tenant_id) as session:
            await run_sql(session, sql, params)

    run_db(settings, write)


def set_order_note(settings: Settings, tenant_id: str, order_id: str, note: str) -> None:
    """An order's note written as the platform writes it: sealed, the clear column left blank."""

    async def write(db: Database) -> None:
        async with db.tenant_session(tenant_id) as session:
            await write_fields(session, tenant_id, ORDERS, order_id, {"note": note})

    run_db(settings, write)


def order_note(settings: Settings, tenant_id: str, order_id: str) -> str:
    async def read(db: Database) -> str:
        async with db.tenant_session(tenant_id) as session:
            sql = f"SELECT {ORDERS.columns} FROM orders WHERE id = :id"  # noqa: S608 - the table's own column list
            row = (await run_sql(session, sql, {"id": order_id})).one()
            return str((await open_fields(session, ORDERS, row))["note"])

    return run_db(settings, read)


def conversation(api: httpx.Client, agent: str, customer_id: str | None = None) -> str:
    body: dict[str, Any] = {"agent": agent, "channel": "web"}
    if customer_id is not None:
        body["customer_id"] = customer_id
    response = api.post("/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# A freshly started worker on a busy machine may not confirm a message within the gateway's 15 s: the client's
# answer to 503 `not_confirmed` is to send it again with the same `client_message_id`, which is safe.
_SEND_ATTEMPTS = 6


def send(api: httpx.Client, conversation_id: str, content: str) -> str:
    body = {"content": content, "client_message_id": str(uuid.uuid4())}
    for _ in range(_SEND_ATTEMPTS):
        response = api.post(f"/v1/conversations/{conversation_id}/messages", json=body)
        if response.status_code != 503 or response.json()["error"]["code"] != "not_confirmed":
            break
        time.sleep(float(response.headers.get("Retry-After", "2")))
    assert response.status_code == 202, response.text
    return str(response.json()["message_id"])


def finished(message_id: str) -> Callable[[list[Frame]], bool]:
    return lambda frames: any(
        f.event in ("message.completed", "turn.failed")
        and (f.data or {}).get("reply_to", (f.data or {}).get("message_id")) == message_id
        for f in frames
    )


def seen(event: str, **match: Any) -> Callable[[list[Frame]], bool]:
    return lambda frames: any(
        f.event == event and all((f.data or {}).get(k) == v for k, v in match.items()) for f in frames
    )


def turn(api: httpx.Client, conversation_id: str, content: str, *, timeout: float = 90.0) -> tuple[str, list[Frame]]:
    """Send a message and read the stream until its turn finished: the message id and the stream's events."""
    message_id = send(api, conversation_id, content)
    return message_id, events_of(read_frames(api, conversation_id, finished(message_id), timeout=timeout))


def answer(frames: list[Frame], message_id: str) -> str:
    completed = of(frames, "message.completed", reply_to=message_id)
    assert completed, f"no answer to {message_id}: {[(f.event, f.data) for f in frames]}"
    return str(completed[0]["content"])


def of(frames: list[Frame], event: str, **match: Any) -> list[dict[str, Any]]:
    return [
        f.data
        for f in frames
        if f.event == event and f.data is not None and all(f.data.get(k) == v for k, v in match.items())
    ]
