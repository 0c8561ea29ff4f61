"""`/hooks/channels/{tenant}/{channel}/{kind}`: where providers deliver customers' messages.

No API key here: each request is authenticated by its provider's signature over the raw body (and, where
the scheme has one, its timestamp), checked against the channel's sealed secret (`channels.signatures`).
Only then is the body parsed and each message handed to `api.channel_inbound`, which deduplicates by the
provider's message id. An unsigned, forged, altered or expired request is 401, a replayed one 409
`duplicate_delivery`; neither starts anything. An unknown, disabled or other tenant's channel is 404, the
same for every case, so the URL space reveals nothing.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.admission.decide import Admission
from api.admission.deps import admission_of
from api.channel_inbound import InboundPipeline
from api.conversation_runs import NotConfirmed, submit
from api.deps import StateDep
from api.edge_limits import HooksLimit
from api.errors import ApiError
from api.schemas import ConversationOut, MessageCreate
from api.state import GatewayState
from channels import parsing, signatures, store
from channels.media import message_text
from channels.secrets import ChannelSecrets
from contracts.channels import ChannelKind, InboundMessage
from core.crypto.secretbox import SecretUnavailable, build_keyring

router = APIRouter(prefix="/hooks/channels", tags=["channel hooks"], dependencies=[HooksLimit])

TenantId = Annotated[uuid.UUID, Path()]
ChannelId = Annotated[uuid.UUID, Path()]


def pipeline(state: GatewayState, admission: Admission) -> InboundPipeline:
    """Messages start turns through the tenant's start rate and the fair start queue, like the API's, but wait
    out a refusal (`channel_start_patience_seconds`): a provider may not retry a 429."""

    async def to_run(tenant_id: str, conversation: ConversationOut, message_id: str, body: MessageCreate) -> bool:
        plan = await admission.plans.plan_of(tenant_id)
        try:
            async with admission.starts.patient_slot(plan, state.settings.channel_start_patience_seconds):
                accepted = await submit(state.temporal, state.settings, tenant_id, conversation, message_id, body)
        except NotConfirmed as exc:
            raise ApiError(
                503,
                "not_confirmed",
                "the conversation did not confirm the message in time; deliver it again",
                headers={"Retry-After": "3"},
            ) from exc
        except WorkflowUpdateFailedError as exc:
            raise ApiError(422, "message_rejected", "the conversation refused the message") from exc
        except RPCError as exc:
            raise ApiError(503, "conversation_unavailable", "the conversation cannot take messages now") from exc
        return accepted.duplicate

    return InboundPipeline(state.db, to_run)


async def _channel(state: GatewayState, tenant_id: str, channel_id: str, kind: ChannelKind) -> store.Channel:
    async with state.db.tenant_session(tenant_id) as session:
        channel = await store.get_channel(session, channel_id)
    if channel is None or not channel.enabled or channel.kind != kind:
        raise ApiError(404, "channel_not_found", "no such channel")
    return channel


async def _secret(state: GatewayState, tenant_id: str, channel: store.Channel) -> str:
    if channel.secret_ciphertext is None:
        raise ApiError(409, "channel_not_configured", "the channel has no signing secret")
    try:
        return await ChannelSecrets(build_keyring(state.db, state.settings)).open(
            tenant_id, channel.id, "secret", channel.secret_ciphertext
        )
    except SecretUnavailable as exc:
        raise ApiError(409, "channel_not_configured", "the channel's signing secret cannot be opened") from exc


def _refused(exc: signatures.SignatureRejected | parsing.PayloadRejected) -> ApiError:
    if isinstance(exc, parsing.PayloadRejected):
        status = 401 if exc.code == "timestamp_expired" else 400 if exc.code == "malformed_json" else 422
        return ApiError(status, exc.code, exc.message)
    return ApiError(401, exc.code, exc.message)


async def _deliver(
    request: Request, state: GatewayState, tenant_id: str, channel: store.Channel, msgs: list[InboundMessage]
) -> Response:
    for msg in msgs:
        text = message_text(msg)
        if not text:
            raise ApiError(422, "message_empty", "the message has no text and no file")
        if len(text) > state.settings.max_message_chars:
            raise ApiError(
                422, "message_too_long", f"the message exceeds {state.settings.max_message_chars} characters"
            )
    run = pipeline(state, admission_of(request))
    results = [await run.deliver(tenant_id, channel, msg) for msg in msgs]
    if results and all(r.outcome == "duplicate" for r in results):
        raise ApiError(
            409,
            "duplicate_delivery",
            "this message was delivered before; nothing was started",
            {"message_ids": [r.message_id for r in results]},
        )
    return JSONResponse({"accepted": [r.message_id for r in results if r.outcome == "accepted"]}, 200)


async def _form(request: Request, body: bytes) -> list[tuple[str, str]]:
    if not request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/")):
        raise ApiError(415, "unsupported_media_type", "the provider posts a form")
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


async def _files(request: Request) -> list[tuple[str, str]]:
    """(file name, media type) of the form's uploaded files: a mail's attachments as Mailgun forwards them."""
    form = await request.form()
    return [(v.filename or "", v.content_type or "") for _, v in form.multi_items() if not isinstance(v, str)]


@router.post("/{tenant_id}/{channel_id}/sms")
async def sms(tenant_id: TenantId, channel_id: ChannelId, request: Request, state: StateDep) -> Response:
    tid = str(tenant_id)
    channel = await _channel(state, tid, str(channel_id), ChannelKind.SMS)
    body = await request.body()
    params = await _form(request, body)
    try:
        # Twilio signs the URL it called, query string included; a proxy in front must keep Host and scheme.
        signatures.verify_twilio(
            await _secret(state, tid, channel), str(request.url), params, request.headers.get("x-twilio-signature")
        )
        msg = parsing.parse_twilio(dict(params))
    except (signatures.SignatureRejected, parsing.PayloadRejected) as exc:
        raise _refused(exc) from exc
    return await _deliver(request, state, tid, channel, [msg])


@router.post("/{tenant_id}/{channel_id}/slack")
async def slack(tenant_id: TenantId, channel_id: ChannelId, request: Request, state: StateDep) -> Response:
    tid = str(tenant_id)
    channel = await _channel(state, tid, str(channel_id), ChannelKind.SLACK)
    body = await request.body()
    h = request.headers
    try:
        signatures.verify_slack(
            await _secret(state, tid, channel),
            body,
            h.get("x-slack-request-timestamp"),
            h.get("x-slack-signature"),
            time.time(),
        )
        parsed = parsing.parse_slack(body)
    except (signatures.SignatureRejected, parsing.PayloadRejected) as exc:
        raise _refused(exc) from exc
    if isinstance(parsed, parsing.SlackChallenge):
        return JSONResponse({"challenge": parsed.challenge})
    if parsed is None:
        return JSONResponse({"accepted": []})
    return await _deliver(request, state, tid, channel, [parsed])


@router.get("/{tenant_id}/{channel_id}/whatsapp")
async def whatsapp_verify(
    tenant_id: TenantId,
    channel_id: ChannelId,
    state: StateDep,
    mode: Annotated[str, Query(alias="hub.mode", max_length=64)] = "",
    verify_token: Annotated[str, Query(alias="hub.verify_token", max_length=200)] = "",
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)] = "",
) -> Response:
    """Meta's subscription handshake: echo the challenge when the verify token is the channel's."""
    import hashlib

    channel = await _channel(state, str(tenant_id), str(channel_id), ChannelKind.WHATSAPP)
    expected = str(channel.settings.get("verify_token_sha256", ""))
    given = hashlib.sha256(verify_token.encode()).hexdigest() if verify_token else None
    if mode != "subscribe" or not expected or not signatures.verify_token_matches(expected, given):
        raise ApiError(403, "verify_token_mismatch", "hub.verify_token is not this channel's verify token")
    return PlainTextResponse(challenge)


@router.post("/{tenant_id}/{channel_id}/whatsapp")
async def whatsapp(tenant_id: TenantId, channel_id: ChannelId, request: Request, state: StateDep) -> Response:
    tid = str(tenant_id)
    channel = await _channel(state, tid, str(channel_id), ChannelKind.WHATSAPP)
    body = await request.body()
    try:
        signatures.verify_whatsapp(await _secret(state, tid, channel), body, request.headers.get("x-hub-signature-256"))
        msgs = parsing.parse_whatsapp(body, time.time())
    except (signatures.SignatureRejected, parsing.PayloadRejected) as exc:
        raise _refused(exc) from exc
    if not msgs:
        return JSONResponse({"accepted": []})  # delivery statuses and the like
    return await _deliver(request, state, tid, channel, msgs)


@router.post("/{tenant_id}/{channel_id}/email")
async def email(tenant_id: TenantId, channel_id: ChannelId, request: Request, state: StateDep) -> Response:
    """Mailgun's inbound route (`forward()` to this URL), signed with the webhook signing key."""
    tid = str(tenant_id)
    channel = await _channel(state, tid, str(channel_id), ChannelKind.EMAIL)
    body = await request.body()
    form = dict(await _form(request, body))
    files = await _files(request)
    try:
        signatures.verify_mailgun(
            await _secret(state, tid, channel),
            form.get("timestamp"),
            form.get("token"),
            form.get("signature"),
            time.time(),
        )
        msg = parsing.parse_mailgun(form, files)
    except (signatures.SignatureRejected, parsing.PayloadRejected) as exc:
        raise _refused(exc) from exc
    return await _deliver(request, state, tid, channel, [msg])
