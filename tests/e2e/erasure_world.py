"""The world the erasure tests look at: two shops (tenants), a customer to erase, a neighbour of the same
tenant and another tenant's customer, each with conversations, sealed records and an approval
(`tests.e2e.erasure_people`); then the erasure itself, its worker SIGKILLed in the middle of its database
step. Built once per module (`world`).
"""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from agents.sealed_records import LEADS, TICKETS, open_fields
from contracts.names import ACT_ERASURE_DATABASE
from contracts.privacy import erasure_workflow_id
from core.crypto.fields import email_hash
from db.codec import connect
from db.database import Database, run_sql, to_async_url
from policies.erasure.store import lock_name
from tests.e2e.agent_world import Shop, fresh_shop, run_db
from tests.e2e.erasure_people import Person, attach_records, new_person, record_as_before_sealing, request_approval
from tests.e2e.platform import Platform
from tests.e2e.traces import postgres_hits, redis_hits

_STARTED = 2  # PENDING_ACTIVITY_STATE_STARTED


def approval_events(shop: Shop, person: Person) -> list[dict[str, Any]]:
    """Their conversation's approval events in the audit log, as the API lists them."""
    events = shop.api.get("/v1/audit", params={"limit": 200}).json()["items"]
    return [e for e in events if e["details"].get("conversation_id") == person.conversations[1]]


def sealed_rows(platform: Platform, shop: Shop, person: Person) -> dict[str, int]:
    """Their rows in the sealed tables, found as erasure finds them: by keyed hash and by conversation."""

    async def count(db: Database) -> dict[str, int]:
        async with db.tenant_session(shop.tenant_id) as session:
            hashed = await email_hash(session, shop.tenant_id, person.values[1])
            params = {"h": hashed, "convs": person.conversations}
            found = {}
            for name, sql in (
                ("leads", "SELECT count(*) FROM leads WHERE email_hash = :h"),
                ("tickets", "SELECT count(*) FROM tickets WHERE conversation_id = ANY(CAST(:convs AS text[]))"),
                ("contacts", "SELECT count(*) FROM sandbox_crm_contacts WHERE email_hash = :h"),
                ("approvals", "SELECT count(*) FROM approvals WHERE conversation_id = ANY(CAST(:convs AS text[]))"),
            ):
                found[name] = int((await run_sql(session, sql, params)).scalar_one())
            return found

    return run_db(platform.settings, count)


def rows_opened(platform: Platform, shop: Shop, person: Person) -> dict[str, dict[str, Any]]:
    """Their lead and ticket in clear, opened as the tools open them."""

    async def read(db: Database) -> dict[str, dict[str, Any]]:
        async with db.tenant_session(shop.tenant_id) as session:
            hashed = await email_hash(session, shop.tenant_id, person.values[1])
            lead = (
                await run_sql(session, f"SELECT {LEADS.columns} FROM leads WHERE email_hash = :h", {"h": hashed})
            ).one()
            ticket = (
                await run_sql(
                    session,
                    f"SELECT {TICKETS.columns} FROM tickets WHERE conversation_id = :c",
                    {"c": person.conversations[0]},
                )
            ).one()
            return {
                "lead": await open_fields(session, LEADS, lead),
                "ticket": await open_fields(session, TICKETS, ticket),
            }

    return run_db(platform.settings, read)


@dataclass(frozen=True)
class World:
    shop: Shop
    other_shop: Shop
    target: Person
    neighbour: Person
    stranger: Person
    erasure: dict[str, Any]
    database_attempts: int


async def _erase_with_a_kill(platform: Platform, shop: Shop, customer_id: str) -> tuple[dict[str, Any], int]:
    """Request the erasure while holding its lock, kill the worker once the database step waits on it, let go,
    restart the worker, and wait for the report."""
    engine = create_async_engine(to_async_url(platform.settings.database_url or ""))
    client = await connect(platform.settings)
    try:
        async with engine.connect() as holder:
            lock = text("SELECT pg_advisory_lock(hashtextextended(:name, 0))")
            await holder.execute(lock, {"name": lock_name(customer_id)})
            response = shop.api.post(f"/v1/customers/{customer_id}/erasure")
            assert response.status_code == 202, response.text
            erasure_id = response.json()["id"]
            handle = client.get_workflow_handle(erasure_workflow_id(shop.tenant_id, erasure_id))
            deadline = time.monotonic() + 60
            while True:
                pending = (await handle.describe()).raw_description.pending_activities
                if any(a.activity_type.name == ACT_ERASURE_DATABASE and a.state == _STARTED for a in pending):
                    break
                assert time.monotonic() < deadline, "the database step never started"
                await asyncio.sleep(0.2)
            platform.kill_worker()
            unlock = text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))")
            await holder.execute(unlock, {"name": lock_name(customer_id)})
        platform.start_worker()
        deadline = time.monotonic() + 120
        while (erasure := shop.api.get(f"/v1/erasures/{erasure_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline, erasure
            await asyncio.sleep(0.5)
        history = await handle.fetch_history()
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
        ]
        scheduled = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        database = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
            and scheduled[e.activity_task_started_event_attributes.scheduled_event_id] == ACT_ERASURE_DATABASE
        ]
        assert attempts, "no activity ran"
        return erasure, max(database)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def world(platform: Platform) -> Iterator[World]:
    with fresh_shop(platform, "Erasure") as shop, fresh_shop(platform, "Erasure other") as other_shop:
        target = new_person(shop, "target")
        neighbour = new_person(shop, "neighbour")
        stranger = new_person(other_shop, "stranger")
        attach_records(shop, target, platform)
        attach_records(shop, neighbour, platform)
        # Another tenant's customer has an approval too, in its own tenant: erasure must not reach it.
        request_approval(platform.settings, other_shop.tenant_id, stranger)
        for shop_of, person in ((shop, target), (shop, neighbour), (other_shop, stranger)):
            record_as_before_sealing(platform.settings, shop_of.tenant_id, person)
        # Everything the tools wrote of them is sealed at rest: the scan finds their values only in clear copies
        # outside the sealed tables (an order's note, a knowledge chunk, audit events from before sealing),
        # while the sealed rows are there.
        before = postgres_hits(platform.settings, target.values)
        sealed_tables = {"public.leads", "public.tickets", "public.sandbox_crm_contacts", "public.approvals"}
        found_in = {table for found in before.values() for table in found}
        assert not sealed_tables & found_in and "audit.events" in found_in, before
        # The audit log opens what it sealed for the tenant's readers.
        events = approval_events(shop, target)
        assert [(e["action"], e["sealed_state"]) for e in events] == [
            ("approval.denied", "opened"),
            ("approval.requested", "opened"),
        ]
        assert events[0]["sealed_details"] == {"note": target.values[0]}
        assert sealed_rows(platform, shop, target) == {"leads": 1, "tickets": 1, "contacts": 1, "approvals": 1}
        assert redis_hits(platform.settings, target.values), "the conversations left no events to erase"
        erasure, attempts = asyncio.run(_erase_with_a_kill(platform, shop, target.customer_id))
        yield World(shop, other_shop, target, neighbour, stranger, erasure, attempts)
