"""An agent's stamp: what changes whenever resolving the agent for its tenant could give another answer.

`agents.resolve` answers from the agent's newest stored version that is not a draft (append-only rows; none: the
shipped or operator default) and the tenant's tool switches (`tenant_tools`); saving a draft moves nothing. The
stamp is both, read in one statement inside a transaction the caller already holds, so a conversation's run can
keep its resolution and resolve again only when the stamp moves (`workflows.agent_cache`). A running agent-version
canary of the agent (`tenant_router_settings.canary_subject`) adds its id, so starting or ending one resolves
again; which side of its share a run is on is fixed by the conversation's id. Deployment-level inputs (the tool
registry, the operator's pinned agents) change only with the worker process, and a run moves to a new one through
continue-as-new, which starts with nothing kept.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

_STAMP = (
    "SELECT (SELECT coalesce(max(version), 0) FROM agent_definitions WHERE name = :n AND NOT draft) AS version,"
    " (SELECT count(*) FROM tenant_tools) AS switches,"
    " (SELECT coalesce(to_char(max(updated_at), 'YYYYMMDDHH24MISSUS'), '') FROM tenant_tools) AS switched_at,"
    " (SELECT canary_subject->>'id' FROM tenant_router_settings WHERE canary_subject->>'agent' = :n) AS canary"
)


async def agent_stamp(session: AsyncSession, agent: str) -> str:
    """The stamp of `agent` in the session's tenant; RLS scopes both tables to it."""
    row = (await run_sql(session, _STAMP, {"n": agent})).one()
    stamp = f"{agent}:v{row.version}:t{row.switches}:{row.switched_at}"
    return stamp if row.canary is None else f"{stamp}:c{row.canary}"
