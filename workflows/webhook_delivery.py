"""`WebhookDeliveryWorkflow`: one message to one endpoint, retried on the Standard Webhooks schedule.

One run per delivery (id `"{tenant}:webhook:{delivery}"`, so a repeated start of the same delivery joins
the run there is). Attempt 1 goes at once; each later one waits its delay from `RETRY_SCHEDULE`, stretched by
up to 10 % at random (`workflow.random()`, so replay draws the same numbers), or longer when the receiver's
`Retry-After` asks for it. A 2xx ends the run delivered; 410 Gone ends it and disables the endpoint; a
disabled, deleted or refused (SSRF) endpoint ends it abandoned; after the last attempt it is failed. The
timers are durable, so the 75 hours of the schedule survive any number of worker restarts.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.names import ACT_WEBHOOK_ATTEMPT, ACT_WEBHOOK_FINISH, WF_WEBHOOK_DELIVERY
    from contracts.webhooks import (
        ATTEMPT_START_TO_CLOSE,
        MAX_RETRY_AFTER,
        RETRY_JITTER,
        RETRY_SCHEDULE,
        STORE_START_TO_CLOSE,
        WEBHOOK_ACTIVITY_RETRY,
        WEBHOOK_FINISH_RETRY,
        AttemptInput,
        AttemptOutcome,
        AttemptResult,
        DeliveryStatus,
        FinishDeliveryInput,
        WebhookDeliveryInput,
        WebhookDeliveryResult,
    )

_FINAL = {
    AttemptOutcome.DELIVERED: DeliveryStatus.DELIVERED,
    AttemptOutcome.GONE: DeliveryStatus.FAILED,
    AttemptOutcome.ABANDONED: DeliveryStatus.ABANDONED,
}


@workflow.defn(name=WF_WEBHOOK_DELIVERY)
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._attempts = 0
        self._last: AttemptResult | None = None

    @workflow.run
    async def run(self, inp: WebhookDeliveryInput) -> WebhookDeliveryResult:
        status = DeliveryStatus.FAILED
        for delay in (timedelta(0), *RETRY_SCHEDULE):
            wait = self._wait(delay)
            if wait > timedelta(0):
                await workflow.sleep(wait, summary=f"webhook attempt {self._attempts + 1}")
            self._attempts += 1
            self._last = await self._attempt(inp)
            if self._last.outcome in _FINAL:
                status = _FINAL[self._last.outcome]
                break
        gone = self._last is not None and self._last.outcome == AttemptOutcome.GONE
        await workflow.execute_activity(
            ACT_WEBHOOK_FINISH,
            FinishDeliveryInput(
                tenant_id=inp.tenant_id,
                delivery_id=inp.delivery_id,
                status=status,
                attempts=self._attempts,
                disable_endpoint=gone,
            ),
            start_to_close_timeout=STORE_START_TO_CLOSE,
            retry_policy=WEBHOOK_FINISH_RETRY,
        )
        return WebhookDeliveryResult(delivery_id=inp.delivery_id, status=status, attempts=self._attempts)

    @workflow.query(name="attempts")
    def attempts(self) -> int:
        return self._attempts

    def _wait(self, delay: timedelta) -> timedelta:
        if delay <= timedelta(0):
            return delay
        jittered = delay * (1 + workflow.random().uniform(0, RETRY_JITTER))
        asked = self._last.retry_after_seconds if self._last is not None else None
        if asked:
            # The receiver knows its own recovery better than the schedule does, but may not park us forever.
            jittered = max(jittered, min(timedelta(seconds=asked), MAX_RETRY_AFTER))
        return jittered

    async def _attempt(self, inp: WebhookDeliveryInput) -> AttemptResult:
        try:
            return await workflow.execute_activity(
                ACT_WEBHOOK_ATTEMPT,
                AttemptInput(tenant_id=inp.tenant_id, delivery_id=inp.delivery_id, attempt=self._attempts),
                result_type=AttemptResult,
                start_to_close_timeout=ATTEMPT_START_TO_CLOSE,
                retry_policy=WEBHOOK_ACTIVITY_RETRY,
            )
        except ActivityError as err:
            # The activity failed around the request (not the receiver): the schedule's next attempt retries.
            return AttemptResult(outcome=AttemptOutcome.RETRY, error=str(err.cause or err)[:200])
