"""`/v1/api-keys`: issue, list, revoke and rotate the tenant's API keys.

A key's secret appears once, in the response that creates it. Nobody issues or manages a key more powerful
than their own credentials: an admin can neither mint an owner key nor revoke one. Revocation and rotation
reach every gateway replica's auth cache through Redis as soon as they commit.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from api.deps import KeysManageDep, StateDep
from api.errors import ApiError
from api.pagination import Page, PageDep
from api.state import GatewayState
from tenancy import api_keys
from tenancy.api_keys import ApiKey
from tenancy.auth_cache import publish_invalidation
from tenancy.permissions import Permission, TenantRole, may_grant
from tenancy.principal import TenantPrincipal

log = logging.getLogger(__name__)

# JWT verification and the cache invalidation listener live as long as the gateway: FastAPI nests a router's
# lifespan inside the app's, so they start after the gateway state they need exists.
router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])

KeyId = Annotated[uuid.UUID, Path(description="the key's id")]


def _in_future(value: datetime) -> datetime:
    if value <= datetime.now(UTC):
        raise ValueError("must lie in the future")
    return value


FutureDatetime = Annotated[AwareDatetime, AfterValidator(_in_future)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiKeyCreate(_Strict):
    name: str = Field(min_length=1, max_length=api_keys.MAX_NAME_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
    role: TenantRole = Field(
        default=TenantRole.DEVELOPER, description="the key's role; at most as powerful as the caller's"
    )
    scopes: list[Permission] = Field(default_factory=list, max_length=len(Permission), description="narrow the role")
    expires_at: FutureDatetime | None = None


class ApiKeyRotate(_Strict):
    overlap_seconds: int = Field(
        ge=0, le=api_keys.MAX_OVERLAP_SECONDS, description="how long the old key keeps working"
    )
    expires_at: FutureDatetime | None = Field(default=None, description="the new key's expiry; default: the old one's")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    role: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rotated_from: str | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        return cls.model_validate(row, from_attributes=True)


class ApiKeyCreated(ApiKeyOut):
    # The same name as in a new tenant's answer (`POST /v1/admin/tenants`) and `aiaas tenant create --json`.
    api_key: str = Field(description="the full key; shown only in this response")


def _not_found() -> ApiError:
    # Another tenant's key answers exactly like one that does not exist.
    return ApiError(404, "api_key_not_found", "no such API key")


def _check_may_manage(principal: TenantPrincipal, role: str, scopes: list[str]) -> None:
    if not may_grant(principal.permissions, role, scopes):
        raise ApiError(403, "forbidden", "that key's role and scopes would exceed your own")


async def _invalidate(state: GatewayState, key_id: str) -> None:
    state.authenticator.forget(key_id=key_id)
    try:
        await publish_invalidation(state.redis, key_id=key_id)
    except Exception:
        # Committed all the same; other replicas then notice within their cache lifetime.
        log.warning("could not publish an auth cache invalidation", exc_info=True)


def _pepper(state: GatewayState) -> str:
    return state.settings.api_key_pepper.get_secret_value()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_key(body: ApiKeyCreate, principal: KeysManageDep, state: StateDep) -> ApiKeyCreated:
    scopes = [scope.value for scope in body.scopes]
    _check_may_manage(principal, body.role.value, scopes)
    async with state.db.control_session(principal.tenant_id) as session:
        issued = await api_keys.issue_key(
            session,
            tenant_id=principal.tenant_id,
            name=body.name,
            role=body.role.value,
            scopes=scopes,
            expires_at=body.expires_at,
            pepper=_pepper(state),
            actor=principal.subject,
        )
    return ApiKeyCreated(**ApiKeyOut.of(issued.row).model_dump(), api_key=issued.key)


@router.get("", response_model=Page[ApiKeyOut])
async def list_keys(
    principal: KeysManageDep,
    state: StateDep,
    page: PageDep,
    include_inactive: Annotated[bool, Query(description="also list revoked and expired keys")] = False,
) -> Page[ApiKeyOut]:
    """The tenant's keys, oldest first; never their secrets."""
    async with state.db.control_session(principal.tenant_id) as session:
        rows = await api_keys.list_keys(session, include_inactive=include_inactive)
    scope = page.scope("api-keys", principal.tenant_id, include_inactive=include_inactive)
    return page.slice(
        [ApiKeyOut.of(row) for row in rows], scope, key=lambda k: (k.created_at, k.id), kinds=(datetime, str)
    )


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def revoke_key(key_id: KeyId, principal: KeysManageDep, state: StateDep) -> Response:
    async with state.db.control_session(principal.tenant_id) as session:
        row = await api_keys.find_key(session, str(key_id), for_update=True)
        if row is None:
            raise _not_found()
        _check_may_manage(principal, row.role, list(row.scopes))
        revoked = await api_keys.revoke_key(session, row, actor=principal.subject)
    if revoked:
        await _invalidate(state, str(key_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{key_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def rotate_key(key_id: KeyId, body: ApiKeyRotate, principal: KeysManageDep, state: StateDep) -> ApiKeyCreated:
    async with state.db.control_session(principal.tenant_id) as session:
        row = await api_keys.find_key(session, str(key_id), for_update=True)
        if row is None:
            raise _not_found()
        _check_may_manage(principal, row.role, list(row.scopes))
        try:
            issued = await api_keys.rotate_key(
                session,
                row,
                overlap_seconds=body.overlap_seconds,
                expires_at=body.expires_at,
                pepper=_pepper(state),
                actor=principal.subject,
            )
        except api_keys.KeyNotActive as exc:
            raise ApiError(409, "api_key_not_active", str(exc)) from exc
    # Replicas may hold the old key without an expiry; from now on they must see the overlap's end.
    await _invalidate(state, str(key_id))
    return ApiKeyCreated(**ApiKeyOut.of(issued.row).model_dump(), api_key=issued.key)
