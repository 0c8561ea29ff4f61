"""Making a version of an agent the active one: saving it as the tenant's next version, audited.

The active version of an agent is its newest that is not a draft (`agents.definitions`), and saved versions
never change, so activating another version (a draft, a roll back in the console, a promoted agent-version
canary) saves its definition again as the next version. Every save goes through `save_version`: the definition
is validated, stored and recorded in the audit log (`agent.saved`, with `draft` for a draft) in the caller's
transaction, so both commit or neither.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from agents.definitions import AgentNotFound, find_agent, save_agent
from agents.sdk import ToolRegistry
from contracts.agents import AgentDefinition
from tenancy.audit import record_event


async def save_version(
    session: AsyncSession,
    tenant_id: str,
    definition: AgentDefinition,
    actor: str,
    *,
    registry: ToolRegistry,
    pinned: Collection[str] = (),
    details: dict[str, Any] | None = None,
    draft: bool = False,
) -> AgentDefinition:
    """Validate and store `definition` as the next version (a draft when `draft`), and audit it; `AgentInvalid`
    when it names tools or agents that do not exist."""
    stored = await save_agent(session, tenant_id, definition, actor, registry=registry, pinned=pinned, draft=draft)
    await record_event(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="agent.saved",
        target=stored.name,
        details={
            "version": stored.version,
            "tools": list(stored.tools),
            "handoff_targets": stored.handoff_targets,
            **({"draft": True} if draft else {}),
            **(details or {}),
        },
    )
    return stored


async def activate_version(
    session: AsyncSession,
    tenant_id: str,
    name: str,
    version: int,
    actor: str,
    *,
    registry: ToolRegistry,
    pinned: Collection[str] = (),
    details: dict[str, Any] | None = None,
) -> AgentDefinition | None:
    """Make `version` of `name` the active one; None when it is already (the newest version is it)."""
    wanted = await find_agent(session, name, version, pinned=pinned)
    if wanted is None or wanted.version != version:
        raise AgentNotFound(f"no agent {name!r} version {version}")
    current = await find_agent(session, name, pinned=pinned)
    if current is not None and current.version == version:
        return None
    definition = wanted.definition.model_copy(update={"name": name})
    return await save_version(
        session,
        tenant_id,
        definition,
        actor,
        registry=registry,
        pinned=pinned,
        details={"restored_from": version, **(details or {})},
    )


async def active_version(session: AsyncSession, name: str, version: int, *, pinned: Collection[str] = ()) -> int:
    """The active version of `name`, once `version` is one the session's tenant has; `AgentNotFound` if not
    (another tenant's versions are invisible under row-level security)."""
    wanted = await find_agent(session, name, version, pinned=pinned)
    if wanted is None or wanted.version != version:
        raise AgentNotFound(f"no agent {name!r} version {version}")
    current = await find_agent(session, name, pinned=pinned)
    return version if current is None else current.version
