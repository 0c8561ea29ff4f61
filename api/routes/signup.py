"""`POST /v1/signup` and `POST /v1/signup/verify`: self-serve signup, without credentials.

Outside the authenticated /v1 router (there is no principal yet), so this module does its own admission:
abuse limits per client address and per email domain (GCRA buckets in Redis, as the tenant rate limits),
checked after the input is valid, before anything starts. A valid request always answers 202 with the same
body, whether the address is new, already signing up, or already owns a tenant: the mail says which.

Verification checks the token's signature and expiry here (400 `invalid_token`, 410 `token_expired`), then
sends the run the `verify` update; the run refuses another run's nonce (400) and a second use (409
`token_used`). The first API key is taken from Redis with GETDEL, so exactly one response shows it.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, status
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.deps import StateDep
from api.errors import ApiError
from api.state import GatewayState
from contracts.names import WF_SIGNUP
from contracts.signup import SignupInput, VerifyRequest, VerifyResult, first_key_redis_key, signup_workflow_id
from policies.signup_limits import admit_signup
from tenancy.signup_checks import MAX_EMAIL_CHARS, SignupRefused, check_applicant
from tenancy.signup_tokens import MAX_TOKEN_CHARS, TokenExpired, TokenInvalid, email_digest, verify
from tenancy.tenants import MAX_NAME_CHARS

router = APIRouter(prefix="/v1/signup", tags=["signup"])
REQUESTS = Counter("aiaas_signup_requests_total", "Signup requests by result", ["result"])
VERIFICATIONS = Counter("aiaas_signup_verifications_total", "Signup verifications by result", ["result"])
_UPDATE_TIMEOUT = timedelta(seconds=30)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignupRequest(_Strict):
    company: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description="the new tenant's name")
    email: str = Field(min_length=3, max_length=MAX_EMAIL_CHARS, description="the owner's address; gets the link")


class SignupAccepted(BaseModel):
    status: str = Field(description="always `verification_sent`: the address gets a mail either way")
    expires_in_seconds: int


class VerifyBody(_Strict):
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class SignupCompleted(BaseModel):
    tenant_id: str
    api_key: str = Field(description="the owner's first API key; shown only in this response")
    plan: str
    trial_days: int


def _refuse(code: str, message: str, status_code: int, counter: Counter) -> ApiError:
    counter.labels(code).inc()
    return ApiError(status_code, code, message)


async def _limit(state: GatewayState, request: Request, domain: str) -> None:
    settings = state.settings
    refusal = await admit_signup(
        state.redis,
        client=request.client.host if request.client else "unknown",
        domain=domain,
        per_ip_per_hour=settings.signup_per_ip_per_hour,
        per_domain_per_hour=settings.signup_per_domain_per_hour,
    )
    if refusal is not None:
        REQUESTS.labels(f"rate_limited_{refusal.scope}").inc()
        raise ApiError(
            429,
            "rate_limited",
            f"too many signups from this {'address' if refusal.scope == 'ip' else 'email domain'}; retry later",
            details={"scope": refusal.scope},
            headers={"Retry-After": str(max(1, math.ceil(refusal.retry_after_seconds)))},
        )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SignupAccepted)
async def sign_up(body: SignupRequest, request: Request, state: StateDep) -> SignupAccepted:
    try:
        applicant = check_applicant(body.company, body.email)
    except SignupRefused as exc:
        raise _refuse(exc.code, str(exc), 422, REQUESTS) from exc
    await _limit(state, request, applicant.domain)
    settings = state.settings
    digest = email_digest(settings.signup_key(), applicant.email)
    await state.temporal.start_workflow(
        WF_SIGNUP,
        SignupInput(
            signup_id=str(uuid.uuid4()),
            company=applicant.company,
            email=applicant.email,
            email_digest=digest,
            ttl_seconds=settings.signup_ttl_seconds,
            trial_plan=settings.signup_trial_plan,
            trial_days=settings.signup_trial_days,
        ),
        id=signup_workflow_id(digest),
        task_queue=settings.task_queue,
        # A signup already waiting for its link is the same signup; a finished one may be asked for again.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    REQUESTS.labels("accepted").inc()
    return SignupAccepted(status="verification_sent", expires_in_seconds=settings.signup_ttl_seconds)


@router.post("/verify", response_model=SignupCompleted)
async def verify_signup(body: VerifyBody, state: StateDep) -> SignupCompleted:
    settings = state.settings
    try:
        token = verify(settings.signup_key(), body.token)
    except TokenExpired as exc:
        raise _refuse("token_expired", str(exc), 410, VERIFICATIONS) from exc
    except TokenInvalid as exc:
        raise _refuse("invalid_token", str(exc), 400, VERIFICATIONS) from exc
    handle = state.temporal.get_workflow_handle(signup_workflow_id(token.email_digest))
    try:
        result = await handle.execute_update(
            "verify", VerifyRequest(nonce=token.nonce), result_type=VerifyResult, rpc_timeout=_UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as exc:
        reason = str(exc.cause) if exc.cause else ""
        if "used" in reason:
            raise _refuse("token_used", "the token was used already", 409, VERIFICATIONS) from exc
        if "expired" in reason:
            raise _refuse("token_expired", "the token has expired", 410, VERIFICATIONS) from exc
        raise _refuse("invalid_token", "the token does not belong to a pending signup", 400, VERIFICATIONS) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # The run has ended: its link expired, or it was used and the signup is complete.
            raise _refuse("token_used", "the signup is no longer pending", 409, VERIFICATIONS) from exc
        raise
    api_key = await state.redis.getdel(first_key_redis_key(token.email_digest))
    if api_key is None:
        raise _refuse("token_used", "the token was used already", 409, VERIFICATIONS)
    VERIFICATIONS.labels("created").inc()
    return SignupCompleted(
        tenant_id=result.tenant_id,
        api_key=api_key.decode() if isinstance(api_key, bytes) else str(api_key),
        plan=settings.signup_trial_plan,
        trial_days=settings.signup_trial_days,
    )
