"""Turns written the way the platform writes them (conversation, question, answer, ledger rows, tool calls),
dated in the past, so a nightly drift run has a baseline and a night to compare.

The night's turns cost `price_factor` times as much per token (a provider's price change) and their tool calls
fail at `night_tool_errors` (a model that got worse at calling tools); everything else stays as in the
baseline, whose tool calls fail at 2 %.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text

from db.database import Database

NIGHT = date(2025, 3, 15)
AGENT, MODEL = "support", "scripted/echo"
BASELINE_DAYS = 14
TURNS_PER_DAY = 25
NIGHT_TURNS = 60

_CONVERSATION = text(
    "INSERT INTO conversations (id, tenant_id, agent, channel, created_at, updated_at)"
    " VALUES (:id, :tid, :agent, 'api', :at, :at)"
)
_MESSAGE = text(
    "INSERT INTO messages (id, tenant_id, conversation_id, role, content, reply_to, model, created_at)"
    " VALUES (:id, :tid, :cid, :role, 'seeded', :reply_to, :model, :at)"
)
_LEDGER = text(
    "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, conversation_id, agent, model,"
    " prompt_tokens, completion_tokens, cost_usd, created_at, settled_at, expires_at)"
    " VALUES (:tid, :key, 'model', 'settled', :wf, :cid, :agent, :model, :prompt, :completion, :cost, :at, :at, :at)"
)
_TOOL = text(
    "INSERT INTO tool_calls (tenant_id, message_id, call_id, conversation_id, tool, status, created_at, updated_at)"
    " VALUES (:tid, :mid, :call, :cid, 'orders.lookup', :status, :at, :at)"
)


async def seed_turns(
    db: Database, tenant_id: str, *, price_factor: float = 1.5, night_tool_errors: float = 0.02, seed: int = 1
) -> int:
    """Write the baseline's and the night's turns for `tenant_id`; returns how many turns."""
    rng = random.Random(seed)
    rows: dict[str, list[dict[str, object]]] = {"conv": [], "msg": [], "ledger": [], "tool": []}
    days = [(NIGHT - timedelta(days=d), TURNS_PER_DAY, 1.0, 0.02) for d in range(BASELINE_DAYS, 0, -1)]
    for day, turns, factor, tool_errors in [*days, (NIGHT, NIGHT_TURNS, price_factor, night_tool_errors)]:
        cid = str(uuid.uuid4())
        start = datetime.combine(day, time(1), tzinfo=UTC)
        rows["conv"].append({"id": cid, "tid": tenant_id, "agent": AGENT, "at": start})
        for i in range(turns):
            asked = start + timedelta(minutes=15 * i)
            qid = str(uuid.uuid4())
            prompt, completion = rng.randint(300, 500), rng.randint(80, 120)
            answered = asked + timedelta(milliseconds=rng.randint(900, 1500))
            rows["msg"].append(
                {"id": qid, "tid": tenant_id, "cid": cid, "role": "user", "reply_to": None, "model": None, "at": asked}
            )
            rows["msg"].append(
                {
                    "id": str(uuid.uuid4()),
                    "tid": tenant_id,
                    "cid": cid,
                    "role": "assistant",
                    "reply_to": qid,
                    "model": MODEL,
                    "at": answered,
                }
            )
            wf = f"{tenant_id}:conv:{cid}"
            rows["ledger"].append(
                {
                    "tid": tenant_id,
                    "key": f"{wf}:{qid}:model:0",
                    "wf": wf,
                    "cid": cid,
                    "agent": AGENT,
                    "model": MODEL,
                    "prompt": prompt,
                    "completion": completion,
                    "cost": round((prompt + completion) * 0.000002 * factor, 6),
                    "at": asked,
                }
            )
            rows["tool"].append(
                {
                    "tid": tenant_id,
                    "mid": qid,
                    "call": f"call-{i}",
                    "cid": cid,
                    "status": "ok" if rng.random() >= tool_errors else "error",
                    "at": asked,
                }
            )
    async with db.tenant_session(tenant_id) as session:
        connection = await session.connection()
        for statement, key in ((_CONVERSATION, "conv"), (_MESSAGE, "msg"), (_LEDGER, "ledger"), (_TOOL, "tool")):
            await connection.execute(statement, rows[key])
    return len(rows["ledger"])
