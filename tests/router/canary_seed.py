"""Turns for a canary's two arms, written the way the platform writes them (conversation, question, answer,
settled ledger row), dated within the last hour, so a canary backdated an hour has both arms to compare."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from contracts.canary import AgentVersionSubject, CanaryRule, CanaryStatus, ModelSubject, RouterThresholdSubject
from db.database import Database
from router import canary_store
from router.canary import Canary, SubjectCanary
from router.canary_store import StoredCanary

_CONVERSATION = text(
    "INSERT INTO conversations (id, tenant_id, agent, channel, created_at, updated_at)"
    " VALUES (:id, :tid, :agent, 'api', :at, :at)"
)
_MESSAGE = text(
    "INSERT INTO messages (id, tenant_id, conversation_id, role, content, reply_to, model, agent, created_at)"
    " VALUES (:id, :tid, :cid, :role, 'seeded', :reply_to, :model, :answered_by, :at)"
)
_LEDGER = text(
    "INSERT INTO usage_ledger (tenant_id, key, kind, status, workflow_id, conversation_id, agent, model,"
    " prompt_tokens, completion_tokens, cost_usd, created_at, settled_at, expires_at)"
    " VALUES (:tid, :key, 'model', 'settled', :wf, :cid, 'support', :model, 100, 50, :cost, :at, :at, :at)"
)


async def seed_arms(
    db: Database,
    tenant_id: str,
    canary: Canary | SubjectCanary,
    *,
    per_arm: int,
    canary_failures: float = 0.0,
    control_model: str = "scripted/echo",
    seed: int = 1,
    agent: str = "support",
    answered_by: str | None = None,
    failed_by: str | None = None,
) -> None:
    """`per_arm` one-turn conversations in each arm, started with `agent`; the canary's fail (no answer) at
    `canary_failures`; the answers record `answered_by` as the agent that answered (None: not recorded), a
    failed turn's question `failed_by` as the agent that had the turn (None: not recorded)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    counts = {True: 0, False: 0}
    rows: dict[str, list[dict[str, object]]] = {"conv": [], "msg": [], "ledger": []}
    while min(counts.values()) < per_arm:
        cid = str(uuid.uuid4())
        arm = canary.includes(cid)
        if counts[arm] >= per_arm:
            continue
        counts[arm] += 1
        model = canary.model if arm and isinstance(canary, Canary) else control_model
        asked = now - timedelta(minutes=rng.uniform(5, 55))
        qid = str(uuid.uuid4())
        rows["conv"].append({"id": cid, "tid": tenant_id, "at": asked, "agent": agent})
        rows["msg"].append(
            {
                "id": qid,
                "tid": tenant_id,
                "cid": cid,
                "role": "user",
                "reply_to": None,
                "model": None,
                "answered_by": None,
                "at": asked,
            }
        )
        if arm and rng.random() < canary_failures:
            rows["msg"][-1]["answered_by"] = failed_by
            continue
        answered = asked + timedelta(milliseconds=800 * rng.lognormvariate(0, 0.2))
        rows["msg"].append(
            {
                "id": str(uuid.uuid4()),
                "tid": tenant_id,
                "cid": cid,
                "role": "assistant",
                "reply_to": qid,
                "model": model,
                "answered_by": answered_by,
                "at": answered,
            }
        )
        wf = f"{tenant_id}:conv:{cid}"
        cost = round(0.002 * rng.lognormvariate(0, 0.2), 6)
        rows["ledger"].append(
            {
                "tid": tenant_id,
                "key": f"{wf}:{qid}:model:0",
                "wf": wf,
                "cid": cid,
                "model": model,
                "cost": cost,
                "at": asked,
            }
        )
    async with db.tenant_session(tenant_id) as session:
        connection = await session.connection()
        for statement, key in ((_CONVERSATION, "conv"), (_MESSAGE, "msg"), (_LEDGER, "ledger")):
            await connection.execute(statement, rows[key])


async def open_canary(
    db: Database,
    tenant_id: str,
    *,
    model: str = "scripted/agent",
    share: float = 0.5,
    rule: CanaryRule | None = None,
    require_approval: bool = False,
    subject: AgentVersionSubject | RouterThresholdSubject | None = None,
) -> StoredCanary:
    """A running canary row as `POST /v1/router/canaries` writes it, begun an hour ago; a model canary unless
    `subject` names another kind."""
    canary_id = canary_store.new_id()
    stored = StoredCanary(
        tenant_id=tenant_id,
        id=canary_id,
        model=model if subject is None else "",
        tier="small" if subject is None else "",
        share=share,
        control_model="scripted/echo" if subject is None else "",
        require_approval=require_approval,
        rule=rule or CanaryRule(),
        status=CanaryStatus.RUNNING,
        reason="",
        last_check=None,
        checks=0,
        created_by="test",
        decided_by="",
        workflow_id=canary_store.workflow_id(tenant_id, canary_id),
        created_at=datetime.now(UTC),
        finished_at=None,
        subject=ModelSubject(model=model) if subject is None else subject,
    )
    async with db.tenant_session(tenant_id) as session:
        await canary_store.create(session, stored)
        await (await session.connection()).execute(
            text("UPDATE router_canaries SET created_at = now() - interval '1 hour' WHERE id = :id"), {"id": canary_id}
        )
        found = await canary_store.get(session, tenant_id, canary_id)
    assert found is not None
    return found
