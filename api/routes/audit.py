"""`/v1/audit`: the caller's tenant's audit log, newest first, and a check that its hash chains are intact.

Only the caller's own chains are ever read (each session is bound to the caller's tenant), so there is no way
to name another tenant's. A tenant has one chain, `tenant`, in the database that holds its data; in regional
mode (`db.regions`) the control plane keeps a second one, `control`, of what happens there (keys issued,
members, the tenant's lifecycle). The listing merges both, newest first, each event saying which chain it is
in; verification checks each chain on its own. Pages continue with the `next_cursor` of the one before
(`api.pagination`), positioned by time, chain and id, so a page never repeats or skips an event of either.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import StateDep, requires
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.state import GatewayState
from db.regions import RegionalDatabase
from tenancy.audit import AuditEntry
from tenancy.audit_read import list_events, verify_chain
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/audit", tags=["audit"])

AuditReader = Annotated[TenantPrincipal, requires(Permission.AUDIT_READ)]
TENANT_CHAIN = "tenant"
CONTROL_CHAIN = "control"
_RANKS = {TENANT_CHAIN: 1, CONTROL_CHAIN: 0}
# Larger than any id: a position's id bound when every event of that time in the chain qualifies.
_AFTER_ALL = 2**63 - 1


class AuditEventOut(BaseModel):
    id: int
    chain: str
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    # What the event recorded of an end customer, sealed at rest: the digest of its ciphertext (which `hash`
    # covers in place of the values), the values opened, and `opened`, `erased` (by the customer's erasure)
    # or `unavailable` (the key no longer opens them). All three are null on events without a sealed part.
    sealed_sha256: str | None = None
    sealed_details: dict[str, Any] | None = None
    sealed_state: str | None = None


class ReanchorOut(BaseModel):
    """A re-anchor of a chain: the events `first_seq..last_seq` re-hashed once their clear customer details
    were sealed, under a statement signed with the tenant's signing key (`key_id`). `ok`: its signature
    verifies and the chain holds what it signed; `problem` says why not."""

    chain: str
    id: int
    created_at: datetime
    first_seq: int
    last_seq: int
    old_head_hash: str
    new_head_hash: str
    key_id: str
    resealed: int
    ok: bool
    problem: str | None = None


class ChainCheck(BaseModel):
    chain: str
    ok: bool
    checked: int
    first_bad_id: int | None
    reanchored: list[ReanchorOut] = []


class ChainVerification(BaseModel):
    # All chains intact, events checked over all of them, the first bad event of the first broken chain.
    ok: bool
    checked: int
    first_bad_id: int | None
    chains: list[ChainCheck]
    # Every chain's re-anchors, oldest first; one that fails fails its chain (`ok` false, `first_bad_id` null).
    reanchored: list[ReanchorOut] = []


@dataclass(frozen=True)
class _Chain:
    name: str
    # Where the chain sorts among events of the same microsecond (higher first).
    rank: int
    session: Callable[[str], AbstractAsyncContextManager[AsyncSession]]


def _chains(state: GatewayState) -> list[_Chain]:
    chains = [_Chain(TENANT_CHAIN, _RANKS[TENANT_CHAIN], state.db.tenant_session)]
    if isinstance(state.db, RegionalDatabase):
        chains.append(_Chain(CONTROL_CHAIN, _RANKS[CONTROL_CHAIN], state.db.control_session))
    return chains


def _before(chain: _Chain, position: tuple[Any, ...] | None) -> tuple[datetime, int] | None:
    """The chain's own (time, id) bound for events after `position` in the merged order."""
    if position is None:
        return None
    at, rank, event_id = position
    if chain.rank == rank:
        return at, event_id
    # Same time: a chain ranked lower comes after the position entirely, one ranked higher came before it.
    return (at, _AFTER_ALL) if chain.rank < rank else (at, 0)


def _out(chain: _Chain, entry: AuditEntry) -> AuditEventOut:
    return AuditEventOut(
        id=entry.id,
        chain=chain.name,
        seq=entry.seq,
        occurred_at=entry.occurred_at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        details=entry.details,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
        sealed_sha256=entry.sealed_sha256,
        sealed_details=entry.private,
        sealed_state=entry.sealed_state,
    )


def _position(event: AuditEventOut) -> tuple[datetime, int, int]:
    """Where an event sorts in the merged listing (descending)."""
    return event.occurred_at, _RANKS[event.chain], event.id


@router.get("", response_model=Page[AuditEventOut])
async def read_audit_log(
    principal: AuditReader,
    state: StateDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")] = None,
    since: Annotated[AwareDatetime | None, Query(alias="from", description="inclusive")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to", description="exclusive")] = None,
) -> Page[AuditEventOut]:
    """The tenant's audit events, newest first, from every chain it has."""
    if since is not None and until is not None and since >= until:
        raise ApiError(422, "invalid_range", "`from` must lie before `to`")
    scope = page.scope("audit", principal.tenant_id, action=action, since=since, until=until)
    position = page.after(scope, datetime, int, int)
    found: list[AuditEventOut] = []
    for chain in _chains(state):
        async with chain.session(principal.tenant_id) as session:
            entries = await list_events(
                session,
                principal.tenant_id,
                action=action,
                since=since,
                until=until,
                before=_before(chain, position),
                limit=page.limit + 1,
            )
        found += [_out(chain, entry) for entry in entries]
    found.sort(key=_position, reverse=True)
    return page.of(found[: page.limit + 1], scope, key=_position)


@router.get("/verify", response_model=ChainVerification)
async def verify_audit_log(principal: AuditReader, state: StateDep) -> ChainVerification:
    checks = []
    for chain in _chains(state):
        async with chain.session(principal.tenant_id) as session:
            result = await verify_chain(session, principal.tenant_id)
        reanchored = [ReanchorOut(chain=chain.name, **asdict(check)) for check in result.reanchored]
        checks.append(
            ChainCheck(
                chain=chain.name,
                ok=result.ok,
                checked=result.checked,
                first_bad_id=result.first_bad_id,
                reanchored=reanchored,
            )
        )
    broken = next((c for c in checks if not c.ok), None)
    return ChainVerification(
        ok=broken is None,
        checked=sum(c.checked for c in checks),
        first_bad_id=broken.first_bad_id if broken else None,
        chains=checks,
        reanchored=[r for c in checks for r in c.reanchored],
    )
