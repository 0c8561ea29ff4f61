"""The drift simulator's turns written into Postgres the way the platform writes them, for the nightly run.

A simulated turn (`benchmarks.drift_sim.day_of`) becomes what `policies.drift.store` reads back: a customer's
question (`messages`, role user) in a conversation of its agent, the answer (role assistant, with the model) at
the turn's latency unless the turn failed, one settled model row of the usage ledger holding its tokens and
cost (key `<workflow>:<message>:model:0`), and its tool calls with as many failed as the turn had. Rows go in
with COPY as the database owner (row-level security does not apply to the owner), the tables' secondary
indexes dropped while many tenants go in and built again after (`bulk_load`): several million rows in minutes
rather than an hour of INSERTs, and the same indexes the platform's migrations create.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from policies.drift.facts import TurnFact

# Turns of one agent on one day are grouped into conversations of this many questions.
TURNS_PER_CONVERSATION = 8
_COLUMNS = {
    "conversations": ["id", "tenant_id", "agent", "channel", "created_at", "updated_at"],
    "messages": ["id", "tenant_id", "conversation_id", "role", "content", "reply_to", "model", "created_at"],
    "usage_ledger": [
        "tenant_id",
        "key",
        "kind",
        "status",
        "workflow_id",
        "conversation_id",
        "agent",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "created_at",
        "settled_at",
        "expires_at",
    ],
    "tool_calls": [
        "tenant_id",
        "message_id",
        "call_id",
        "conversation_id",
        "tool",
        "status",
        "created_at",
        "updated_at",
    ],
}


@dataclass
class Rows:
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {name: [] for name in _COLUMNS})

    def count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


def day_rows(rows: Rows, tenant_id: str, day: date, facts: Sequence[TurnFact], rng: random.Random) -> None:
    """Append one tenant-day's turns to `rows`, questions spread over the day."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    by_agent: dict[str, list[TurnFact]] = {}
    for fact in facts:
        by_agent.setdefault(fact.agent, []).append(fact)
    for agent, turns in by_agent.items():
        asked_at = sorted(start + timedelta(seconds=rng.uniform(0, 86_000)) for _ in turns)
        cid = ""
        for i, (fact, asked) in enumerate(zip(turns, asked_at, strict=True)):
            if i % TURNS_PER_CONVERSATION == 0:
                cid = str(uuid.uuid4())
                rows.tables["conversations"].append((cid, tenant_id, agent, "api", asked, asked))
            _turn(rows, tenant_id, cid, fact, asked)


def _turn(rows: Rows, tenant_id: str, cid: str, fact: TurnFact, asked: datetime) -> None:
    qid = str(uuid.uuid4())
    rows.tables["messages"].append((qid, tenant_id, cid, "user", "seeded", None, None, asked))
    if not fact.failed and fact.latency_ms is not None:
        answered = asked + timedelta(milliseconds=fact.latency_ms)
        rows.tables["messages"].append(
            (str(uuid.uuid4()), tenant_id, cid, "assistant", "seeded", qid, fact.model, answered)
        )
    workflow = f"{tenant_id}:conv:{cid}"
    prompt = fact.tokens * 4 // 5
    cost = Decimal(f"{fact.cost_usd:.6f}")
    rows.tables["usage_ledger"].append(
        (tenant_id, f"{workflow}:{qid}:model:0", "model", "settled", workflow, cid, fact.agent, fact.model,
         prompt, fact.tokens - prompt, cost, asked, asked, asked)
    )  # fmt: skip
    for call in range(fact.tool_calls):
        status = "error" if call < fact.tool_failures else "ok"
        rows.tables["tool_calls"].append((tenant_id, qid, f"call-{call}", cid, "orders.lookup", status, asked, asked))


async def copy_rows(connection: asyncpg.Connection, rows: Rows) -> int:
    """COPY every table's rows (conversations first: messages refer to them); how many rows went in."""
    for table, records in rows.tables.items():
        if records:
            await connection.copy_records_to_table(table, records=records, columns=_COLUMNS[table])
    return rows.count()


@asynccontextmanager
async def bulk_load(connection: asyncpg.Connection) -> AsyncIterator[None]:
    """The seeded tables without their secondary indexes (constraints stay) until the block ends; then the same
    indexes, as the migrations defined them, built once over all the rows."""
    indexes = await connection.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = ANY($1)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        list(_COLUMNS),
    )
    for index in indexes:
        await connection.execute(f'DROP INDEX public."{index["indexname"]}"')
    try:
        yield
    finally:
        for index in indexes:
            await connection.execute(index["indexdef"])
