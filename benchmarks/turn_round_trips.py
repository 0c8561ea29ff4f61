"""Database statements and transactions per conversation turn, counted in the worker process.

One worker (`app.worker.build_worker`, in this process, `scripted/echo` answering) on an embedded stack runs
one conversation of N turns, one after another, through the `submit_message` update as the gateway sends
it. Every SQLAlchemy engine in the process is counted (statements executed, transactions begun), per turn;
a round trip is a statement, a BEGIN or a COMMIT (asyncpg sends each on its own). The first turn of a run
is shown apart from the later ones, since whatever a run keeps is read on its first turn. Run it from two
checkouts for a before/after: the script depends on nothing newer than the worker.

    python -m benchmarks round-trips --turns 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.worker import build_worker
from contracts.conversation import ConversationInput, SubmitMessage, conversation_workflow_id
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database, run_sql
from db.migrate import migrate
from tenancy.tenants import create_tenant
from workflows.conversation import ConversationWorkflow


@dataclass
class Counts:
    statements: int = 0
    transactions: int = 0

    @property
    def round_trips(self) -> int:
        return self.statements + 2 * self.transactions


COUNTS = Counts()


def _count_statement(*_args: Any) -> None:
    COUNTS.statements += 1


def _count_begin(*_args: Any) -> None:
    COUNTS.transactions += 1


def _take() -> Counts:
    taken = Counts(COUNTS.statements, COUNTS.transactions)
    COUNTS.statements = COUNTS.transactions = 0
    return taken


async def _turns(settings: Settings, turns: int) -> list[Counts]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    created = await create_tenant(
        settings.database_url or "", name="Round trips", plan="pro", pepper=settings.api_key_pepper.get_secret_value()
    )
    tenant_id = created.tenant_id
    queue = f"round-trips-{uuid.uuid4().hex[:6]}"
    worker_settings = settings.model_copy(
        update={"agent_models": json.dumps({"support": "scripted/echo"}), "task_queue": queue}
    )
    db = Database(worker_settings.resolved_app_database_url(), pool_size=1)
    conversation_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
            " created_at, updated_at) VALUES (:id, :tid, 'support', 'api', '{}'::jsonb, 'enqueue', 'open', now(),"
            " now())",
            {"id": conversation_id, "tid": tenant_id},
        )
    per_turn: list[Counts] = []
    try:
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            handle = await deps.client.start_workflow(
                ConversationWorkflow.run,
                ConversationInput(tenant_id=tenant_id, conversation_id=conversation_id, agent="support"),
                id=conversation_workflow_id(tenant_id, conversation_id),
                task_queue=queue,
            )
            _take()
            for n in range(turns):
                await handle.execute_update(
                    ConversationWorkflow.submit_message,  # type: ignore[arg-type]  # async handlers type as coroutines
                    SubmitMessage(message_id=str(uuid.uuid4()), content=f"question {n}"),
                )
                await _answered(handle, n + 1)
                # The turn's last writes (its lease, the channel reply) follow its answer by a moment.
                await asyncio.sleep(0.3)
                per_turn.append(_take())
            await handle.terminate("measured")
    finally:
        await db.close()
    return per_turn


async def _answered(handle: Any, turns: int) -> None:
    for _ in range(3000):
        if (await handle.query(ConversationWorkflow.state)).turns_completed >= turns:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"turn {turns} was not answered")


def _line(name: str, counts: list[Counts]) -> str:
    def mean(values: list[int]) -> float:
        return statistics.fmean(values) if values else 0.0

    return (
        f"  {name:<12} statements {mean([c.statements for c in counts]):5.1f}  "
        f"transactions {mean([c.transactions for c in counts]):4.1f}  "
        f"round trips {mean([c.round_trips for c in counts]):5.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args(argv)
    event.listen(Engine, "before_cursor_execute", _count_statement)
    event.listen(Engine, "begin", _count_begin)
    with throwaway_stack("aiaas-round-trips-", env="test") as settings:
        per_turn = asyncio.run(_turns(settings, args.turns))
    print(f"database work per turn in the worker process, {len(per_turn)} turns of one conversation")
    print(_line("first turn", per_turn[:1]))
    print(_line("later turns", per_turn[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
