"""`channels.send_reply`: a turn's answer, sent back to the customer through the channel they wrote from.

One typed input (`ChannelReplyInput`), one HTTP request to the provider per attempt, no retries inside it
(httpx's transport does not retry; Temporal owns retrying, with `CHANNEL_REPLY_RETRY`). The answered
message's id is the idempotency key: the reply is recorded in `channel_replies` once the provider took it,
so a retried activity finds it and sends nothing, and the provider gets the key as `Idempotency-Key`. The
answer is read by reference from the transcript; the provider token is opened from its seal per attempt,
and the provider URL is checked against private targets (SSRF) at every attempt, as webhooks are.

A provider's 4xx (other than 408, 409 and 429) is a refusal no retry changes: `ChannelReplyRefused`,
non-retryable. Everything else (5xx, 429, timeouts, connection errors) raises and is retried.
"""

from __future__ import annotations

import httpx
import structlog
from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents import transcripts
from channels import store
from channels.outbound import build_reply
from channels.secrets import ChannelSecrets
from contracts.channels import ChannelReplyInput, ChannelReplyResult
from contracts.names import ACT_CHANNEL_SEND_REPLY
from core.crypto.keyring import Keyring
from core.crypto.secretbox import SecretUnavailable
from db.database import Database
from webhooks.targets import TargetRefused, check_target

log = structlog.get_logger("aiaas.channels")
REPLIES = Counter("aiaas_channel_replies_total", "Channel replies by kind and outcome", ["kind", "outcome"])
REQUEST_TIMEOUT_SECONDS = 15.0
_RETRYABLE_4XX = {408, 409, 425, 429}


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type="ChannelReplyRefused", non_retryable=True)


class ChannelActivities:
    def __init__(
        self,
        db: Database,
        *,
        keyring: Keyring,
        allow_private_targets: bool = False,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._db = db
        self._secrets = ChannelSecrets(keyring)
        self._allow_private = allow_private_targets
        self._http = http or httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    @activity.defn(name=ACT_CHANNEL_SEND_REPLY)
    async def send_reply(self, inp: ChannelReplyInput) -> ChannelReplyResult:
        key = inp.reply_to_message_id
        async with self._db.tenant_session(inp.tenant_id) as session:
            if await store.reply_sent(session, key):
                return ChannelReplyResult(outcome="already_sent")
            bound = await store.identity_for_conversation(session, inp.conversation_id)
            channel = await store.get_channel(session, bound[0]) if bound else None
            answer = await transcripts.answer_text(session, conversation_id=inp.conversation_id, reply_to=key)
        if bound is None or channel is None or not channel.enabled or channel.token_ciphertext is None:
            return ChannelReplyResult(outcome="no_channel")
        if answer is None or not answer.strip():
            return ChannelReplyResult(outcome="no_answer")
        identity = bound[1]
        try:
            token = await self._secrets.open(inp.tenant_id, channel.id, "token", channel.token_ciphertext)
        except SecretUnavailable as exc:
            REPLIES.labels(kind=channel.kind, outcome="refused").inc()
            raise _refused("the channel's provider token cannot be opened") from exc
        request = build_reply(
            channel.kind,
            provider_url=channel.provider_url,
            settings=channel.settings,
            token=token,
            to=identity.external_id,
            reply_to=identity.reply_to,
            text=answer,
            idempotency_key=key,
        )
        try:
            await check_target(request.url, allow_private=self._allow_private)
        except TargetRefused as exc:
            REPLIES.labels(kind=channel.kind, outcome="refused").inc()
            raise _refused(f"the provider URL is refused: {exc}") from exc
        response = await self._http.post(
            request.url,
            headers=request.headers,
            data=request.form,
            json=request.json,
            auth=request.basic_auth if request.basic_auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
        status = response.status_code
        if 200 <= status < 300:
            async with self._db.tenant_session(inp.tenant_id) as session:
                await store.record_reply(session, inp.tenant_id, key, inp.conversation_id, status)
            REPLIES.labels(kind=channel.kind, outcome="sent").inc()
            return ChannelReplyResult(outcome="sent", status_code=status)
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            REPLIES.labels(kind=channel.kind, outcome="refused").inc()
            log.warning("channel reply refused", kind=channel.kind, status=status)
            raise _refused(f"the provider refused the reply with {status}")
        REPLIES.labels(kind=channel.kind, outcome="retry").inc()
        raise ApplicationError(f"the provider answered {status}; retrying", type="ChannelProviderUnavailable")
