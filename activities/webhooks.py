"""The side effects of webhooks: publish an event to the matching endpoints, make one HTTP attempt, finish.

`publish` is what any workflow calls to emit a tenant-visible event (`ACT_WEBHOOK_PUBLISH` with a
`PublishWebhookInput`): it stores the message once per idempotency key, creates one delivery per enabled
endpoint whose filter takes the event type, and starts a `WebhookDeliveryWorkflow` for each. `attempt`
reads the delivery by id, re-checks the target (SSRF), opens the endpoint's sealed live secrets and signs
with them at the moment of sending, and POSTs; it reports the outcome rather than raising, so the delivery
schedule, not Temporal's activity retries, spaces attempts out. A secret that does not open (the tenant's
keys shredded, or a row tampered with) abandons the delivery: no retry could sign it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import structlog
from prometheus_client import Counter
from temporalio import activity
from temporalio.client import Client

from contracts.names import ACT_WEBHOOK_ATTEMPT, ACT_WEBHOOK_FINISH, ACT_WEBHOOK_PUBLISH
from contracts.webhooks import (
    ATTEMPT_TIMEOUT_SECONDS,
    AttemptInput,
    AttemptOutcome,
    AttemptResult,
    FinishDeliveryInput,
    PublishWebhookInput,
    PublishWebhookResult,
    WebhookDeliveryInput,
)
from core.crypto.keyring import Keyring
from core.crypto.secretbox import SecretUnavailable
from db.database import Database
from webhooks import store
from webhooks.secrets import EndpointSecrets
from webhooks.signing import signed_headers
from webhooks.starter import start_delivery
from webhooks.targets import TargetRefused, pinned_request

log = structlog.get_logger("aiaas.webhooks")
ATTEMPTS = Counter("aiaas_webhook_attempts_total", "Webhook delivery attempts by outcome", ["outcome"])
MAX_ENDPOINTS = 100


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify(status_code: int) -> AttemptOutcome:
    if 200 <= status_code < 300:
        return AttemptOutcome.DELIVERED
    if status_code == 410:
        return AttemptOutcome.GONE
    return AttemptOutcome.RETRY


class WebhookActivities:
    def __init__(
        self,
        db: Database,
        client: Client,
        *,
        task_queue: str,
        keyring: Keyring,
        allow_private_targets: bool = False,
        http: httpx.AsyncClient | None = None,
        search_attributes: bool = True,
    ) -> None:
        self._db = db
        self._client = client
        self._queue = task_queue
        self._secrets = EndpointSecrets(keyring)
        self._allow_private = allow_private_targets
        # Redirects are not followed: a 3xx could point the request inside the network after the check.
        self._http = http or httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_SECONDS, follow_redirects=False)
        self._search_attributes = search_attributes

    async def close(self) -> None:
        await self._http.aclose()

    @activity.defn(name=ACT_WEBHOOK_PUBLISH)
    async def publish(self, inp: PublishWebhookInput) -> PublishWebhookResult:
        occurred = inp.occurred_at or datetime.now(UTC)
        payload = {"type": str(inp.event_type), "timestamp": occurred.isoformat(), "data": inp.data}
        async with self._db.tenant_session(inp.tenant_id) as session:
            message_id = await store.record_message(
                session,
                inp.tenant_id,
                event_type=str(inp.event_type),
                idempotency_key=inp.idempotency_key,
                payload=payload,
            )
            endpoints = await store.list_endpoints(session, inp.tenant_id, limit=MAX_ENDPOINTS)
            targets = [e for e in endpoints if e.wants(str(inp.event_type))]
            for endpoint in targets:
                await store.create_delivery(
                    session,
                    inp.tenant_id,
                    endpoint_id=endpoint.id,
                    message_id=message_id,
                    delivery_id=store.fan_out_delivery_id(message_id, endpoint.id),
                )
        # After the commit: a run must find its delivery row.
        for endpoint in targets:
            delivery = WebhookDeliveryInput(
                tenant_id=inp.tenant_id,
                delivery_id=store.fan_out_delivery_id(message_id, endpoint.id),
                endpoint_id=endpoint.id,
                message_id=message_id,
            )
            await start_delivery(self._client, self._queue, delivery, search_attributes=self._search_attributes)
        return PublishWebhookResult(message_id=message_id, deliveries=len(targets))

    @activity.defn(name=ACT_WEBHOOK_ATTEMPT)
    async def attempt(self, inp: AttemptInput) -> AttemptResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            delivery = await store.get_delivery(session, inp.tenant_id, inp.delivery_id)
            endpoint = await store.get_endpoint(session, inp.tenant_id, delivery.endpoint_id) if delivery else None
            message = await store.get_message(session, inp.tenant_id, delivery.message_id) if delivery else None
        if delivery is None or endpoint is None or message is None:
            return await self._log(inp, AttemptResult(outcome=AttemptOutcome.ABANDONED, error="endpoint deleted"), 0)
        if not endpoint.enabled:
            return await self._log(inp, AttemptResult(outcome=AttemptOutcome.ABANDONED, error="endpoint disabled"), 0)
        try:
            target, pin_headers, pin_extensions = await pinned_request(endpoint.url, allow_private=self._allow_private)
        except TargetRefused as exc:
            return await self._log(inp, AttemptResult(outcome=AttemptOutcome.ABANDONED, error=str(exc)), 0)
        now = datetime.now(UTC)
        try:
            live = await self._secrets.live(inp.tenant_id, endpoint, now)
        except SecretUnavailable as exc:
            # The tenant's keys are shredded or the row was tampered with: no retry can sign this.
            return await self._log(inp, AttemptResult(outcome=AttemptOutcome.ABANDONED, error=str(exc)), 0)
        body = message.payload.encode()
        headers = signed_headers(message.id, now, body, live)
        started = time.monotonic()
        try:
            # To the address just checked, not to a second resolution of the name (DNS rebinding).
            response = await self._http.post(
                target, content=body, headers={**headers, **pin_headers}, extensions=pin_extensions
            )
        except httpx.HTTPError as exc:
            result = AttemptResult(outcome=AttemptOutcome.RETRY, error=f"{type(exc).__name__}: {exc}"[:300])
        else:
            result = AttemptResult(
                outcome=classify(response.status_code),
                status_code=response.status_code,
                retry_after_seconds=retry_after_seconds(response.headers.get("retry-after"), now),
            )
        return await self._log(inp, result, int((time.monotonic() - started) * 1000))

    @activity.defn(name=ACT_WEBHOOK_FINISH)
    async def finish(self, inp: FinishDeliveryInput) -> None:
        async with self._db.tenant_session(inp.tenant_id) as session:
            await store.finish_delivery(session, inp.tenant_id, inp.delivery_id, inp.status, inp.attempts)
            delivery = await store.get_delivery(session, inp.tenant_id, inp.delivery_id)
            if inp.disable_endpoint and delivery is not None:
                await store.disable_endpoint(session, inp.tenant_id, delivery.endpoint_id, "receiver answered 410 Gone")
        log.info("webhook delivery finished", tenant_id=inp.tenant_id, delivery_id=inp.delivery_id, status=inp.status)

    async def _log(self, inp: AttemptInput, result: AttemptResult, duration_ms: int) -> AttemptResult:
        ATTEMPTS.labels(result.outcome.value).inc()
        async with self._db.tenant_session(inp.tenant_id) as session:
            await store.record_attempt(
                session,
                inp.tenant_id,
                inp.delivery_id,
                attempt=inp.attempt,
                outcome=result.outcome,
                status_code=result.status_code,
                error=result.error,
                duration_ms=duration_ms,
            )
        return result
