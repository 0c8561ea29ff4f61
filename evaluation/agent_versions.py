"""Which saved agent versions an eval run evaluates: `--agent-version orders@3,support@2`.

An agent's saved versions are numbered per tenant and per name (`agents.definitions`), so a run names each
agent it evaluates at a version: `NAME@N` (comma-separated for several agents); agents it does not name run
as the eval tenant's default (the shipped definition). Version 0 is the shipped default itself.

The versions are the run owner's: they are checked when the run starts (an unknown name or version, which
includes every version only another tenant saved, is refused before anything runs) and read again from the
owner's tenant when each task is prepared, then saved into the task's eval tenant as that tenant's newest
version, so the platform's own agent resolution runs the version's prompt, tools, handoff targets and model
settings. Saved versions never change, so reading one twice reads the same definition.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from sqlmodel.ext.asyncio.session import AsyncSession

from agents.definitions import DEFAULT_VERSION, find_agent
from contracts.agents import AgentDefinition
from db.database import run_sql

_PART = re.compile(r"^([a-z][a-z0-9_-]{0,63})@(0|[1-9][0-9]{0,6})$")
MAX_AGENTS = 20


class AgentVersionInvalid(ValueError):
    """A malformed `--agent-version` (the message says which part)."""


class AgentVersionNotFound(LookupError):
    """A named agent version the run's tenant does not have."""


def parse(text: str) -> dict[str, int]:
    """`"orders@3,support@2"` -> {"orders": 3, "support": 2}; empty text names none."""
    versions: dict[str, int] = {}
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if len(parts) > MAX_AGENTS:
        raise AgentVersionInvalid(f"at most {MAX_AGENTS} agents")
    for part in parts:
        match = _PART.match(part)
        if match is None:
            raise AgentVersionInvalid(f"{part[:80]!r} is not NAME@VERSION (e.g. orders@3)")
        name, version = match.group(1), int(match.group(2))
        if name in versions:
            raise AgentVersionInvalid(f"agent {name!r} named twice")
        versions[name] = version
    return versions


def canonical(versions: dict[str, int]) -> str:
    return ",".join(f"{name}@{version}" for name, version in sorted(versions.items()))


async def load(
    session: AsyncSession, text: str, *, pinned: Collection[str] = ()
) -> dict[str, tuple[int, AgentDefinition]]:
    """The saved versions `text` names, read in the session's (the run owner's) tenant, by agent name; a name
    at version 0 is checked and left out (an eval tenant runs the default without being told)."""
    found: dict[str, tuple[int, AgentDefinition]] = {}
    for name, version in parse(text).items():
        stored = await find_agent(session, name, version, pinned=pinned)
        # find_agent answers a tenant that never saved `name` with the default whatever the number; a run
        # must evaluate exactly the version it names.
        if stored is None or stored.version != version:
            raise AgentVersionNotFound(f"no version {version} of agent {name!r}")
        if version != DEFAULT_VERSION:
            found[name] = (version, stored.definition)
    return found


async def install(session: AsyncSession, tenant_id: str, versions: dict[str, tuple[int, AgentDefinition]]) -> None:
    """Save the versions into the (fresh) eval tenant under their own numbers: its newest, so they answer."""
    for name, (version, definition) in sorted(versions.items()):
        await run_sql(
            session,
            "INSERT INTO agent_definitions (tenant_id, name, version, definition, created_at, created_by)"
            " VALUES (:tid, :name, :version, CAST(:definition AS jsonb), now(), 'eval-run')",
            {
                "tid": tenant_id,
                "name": name,
                "version": version,
                "definition": definition.model_dump_json(),
            },
        )
