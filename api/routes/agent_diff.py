"""`GET /v1/agents/{name}/diff`: what changed between two versions of an agent.

`from` and `to` name versions as `GET /v1/agents/{name}?version=` does (0: the shipped or operator default); `to`
defaults to the current (active) version and `from` to the newest version below `to` that is not a draft, so a
bare call answers "what did the last activation change", and `to` alone a draft answers "what would this draft
change" (against the version that was active when it was saved). Both must exist for this tenant, or it is a 404
like any unknown agent: another tenant's versions are invisible under row-level security.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from agents.definitions import list_versions, pinned_agent_names
from agents.version_diff import LineKind, diff_versions
from api.deps import DatabaseDep, SettingsDep
from api.errors import ApiError
from api.routes.agents import AgentNamePath, AgentsReadDep

router = APIRouter(prefix="/v1/agents", tags=["agents"])

_MAX_VERSION = 2_147_483_647


class FieldChangeOut(BaseModel):
    field: str
    before: str
    after: str


class PromptLineOut(BaseModel):
    kind: LineKind
    text: str


class AgentDiffOut(BaseModel):
    name: str
    from_version: int
    to_version: int
    identical: bool
    changes: list[FieldChangeOut]
    tools_added: list[str]
    tools_removed: list[str]
    prompt: list[PromptLineOut]


def _no_version(name: str, version: int) -> ApiError:
    return ApiError(404, "agent_not_found", f"agent {name!r} has no version {version}")


@router.get("/{name}/diff", response_model=AgentDiffOut)
async def get_agent_diff(
    name: AgentNamePath,
    principal: AgentsReadDep,
    db: DatabaseDep,
    settings: SettingsDep,
    from_version: Annotated[int | None, Query(alias="from", ge=0, le=_MAX_VERSION)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=0, le=_MAX_VERSION)] = None,
) -> AgentDiffOut:
    async with db.tenant_session(principal.tenant_id) as session:
        versions = await list_versions(session, name, pinned=pinned_agent_names(settings))
    if not versions:
        raise ApiError(404, "agent_not_found", f"no agent named {name!r}")
    by_version = {v.version: v for v in versions}
    active = next((v.version for v in versions if not v.draft), max(by_version))  # newest first
    to_v = active if to_version is None else to_version
    if to_v not in by_version:
        raise _no_version(name, to_v)
    if from_version is None:
        from_v = max((v for v, stored in by_version.items() if v < to_v and not stored.draft), default=to_v)
    elif from_version not in by_version:
        raise _no_version(name, from_version)
    else:
        from_v = from_version
    before, after = by_version[from_v], by_version[to_v]
    diff = diff_versions(before.definition, after.definition)
    return AgentDiffOut(
        name=name,
        from_version=from_v,
        to_version=to_v,
        identical=diff.identical,
        changes=[FieldChangeOut(field=c.field, before=c.before, after=c.after) for c in diff.changes],
        tools_added=diff.tools_added,
        tools_removed=diff.tools_removed,
        prompt=[PromptLineOut(kind=line.kind, text=line.text) for line in diff.prompt],
    )
