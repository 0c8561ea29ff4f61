"""`CanaryWorkflow`: a router canary from start to promotion or rollback.

It applies the canary (`router.canary.begin`: the router sends the canary's share of the tenant's
conversations to its model), then looks every `check_every` (a durable timer: `workflow.wait_condition` with
a timeout, so a worker restart loses nothing) and compares the arms (`router.canary.evaluate`, the rule in
`router/canary_rule.py`). A rollback verdict ends it at once; a promotion verdict ends it too, unless the
tenant asked to approve promotions: then it waits (durably, up to `approval_timeout`) for the `approve`
update, and rolls back on `abort` or when the wait runs out. `abort` ends it at any time. When
`max_duration` passes without a verdict, the canary is rolled back as inconclusive. Long canaries continue as
new with their count of looks, so the history stays small.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.canary import (
        CANARY_ACTIVITY_TIMEOUT,
        CANARY_RETRY,
        CanaryAbort,
        CanaryApproval,
        CanaryDecision,
        CanaryEvaluateInput,
        CanaryFinishInput,
        CanaryInput,
        CanaryRef,
        CanaryResult,
        CanaryStatus,
        CanaryVerdict,
    )
    from contracts.names import ACT_CANARY_BEGIN, ACT_CANARY_EVALUATE, ACT_CANARY_FINISH, WF_ROUTER_CANARY


@workflow.defn(name=WF_ROUTER_CANARY)
class CanaryWorkflow:
    def __init__(self) -> None:
        self._status = CanaryStatus.RUNNING
        self._approved_by: str | None = None
        self._aborted: CanaryAbort | None = None

    @workflow.run
    async def run(self, inp: CanaryInput) -> CanaryResult:
        ref = CanaryRef(tenant_id=inp.tenant_id, canary_id=inp.canary_id)
        if not inp.begun:
            await workflow.execute_activity(
                ACT_CANARY_BEGIN, ref, start_to_close_timeout=CANARY_ACTIVITY_TIMEOUT, retry_policy=CANARY_RETRY
            )
        checks = inp.checks
        deadline = inp.deadline or workflow.now() + inp.max_duration
        while True:
            if await self._wait(inp.check_every):
                return await self._finish(inp, False, self._aborted.reason if self._aborted else "aborted", checks)
            verdict = await self._evaluate(inp)
            checks += 1
            workflow.set_current_details(f"**Canary** {checks} looks: {verdict.decision.value} ({verdict.reason})")
            if verdict.decision == CanaryDecision.ROLL_BACK:
                return await self._finish(inp, False, verdict.reason, checks)
            if verdict.decision == CanaryDecision.PROMOTE:
                if not inp.require_approval:
                    return await self._finish(inp, True, verdict.reason, checks)
                return await self._await_approval(inp, verdict, checks)
            if workflow.now() >= deadline:
                return await self._finish(inp, False, f"inconclusive after {checks} looks: {verdict.reason}", checks)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(inp.model_copy(update={"begun": True, "checks": checks, "deadline": deadline}))

    async def _wait(self, period: timedelta) -> bool:
        """Wait one period (a durable timer); True when aborted meanwhile."""
        try:
            await workflow.wait_condition(lambda: self._aborted is not None, timeout=period)
        except TimeoutError:
            return False
        return True

    async def _evaluate(self, inp: CanaryInput) -> CanaryVerdict:
        return await workflow.execute_activity(
            ACT_CANARY_EVALUATE,
            CanaryEvaluateInput(tenant_id=inp.tenant_id, canary_id=inp.canary_id, planned_looks=inp.planned_looks),
            result_type=CanaryVerdict,
            start_to_close_timeout=CANARY_ACTIVITY_TIMEOUT,
            retry_policy=CANARY_RETRY,
        )

    async def _await_approval(self, inp: CanaryInput, verdict: CanaryVerdict, checks: int) -> CanaryResult:
        self._status = CanaryStatus.AWAITING_APPROVAL
        try:
            await workflow.wait_condition(
                lambda: self._approved_by is not None or self._aborted is not None, timeout=inp.approval_timeout
            )
        except TimeoutError:
            return await self._finish(inp, False, "promotion not approved in time", checks)
        if self._aborted is not None:
            return await self._finish(inp, False, self._aborted.reason, checks, actor=self._aborted.actor)
        return await self._finish(inp, True, f"approved: {verdict.reason}", checks, actor=self._approved_by or "")

    async def _finish(
        self, inp: CanaryInput, promote: bool, reason: str, checks: int, actor: str = "canary"
    ) -> CanaryResult:
        if self._aborted is not None and not promote:
            actor = self._aborted.actor
        status = await workflow.execute_activity(
            ACT_CANARY_FINISH,
            CanaryFinishInput(
                tenant_id=inp.tenant_id, canary_id=inp.canary_id, promote=promote, reason=reason, actor=actor
            ),
            result_type=CanaryStatus,
            start_to_close_timeout=CANARY_ACTIVITY_TIMEOUT,
            retry_policy=CANARY_RETRY,
        )
        self._status = status
        # An approve or abort update answers with the outcome: let it before the run closes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CanaryResult(canary_id=inp.canary_id, status=status, reason=reason, checks=checks)

    @workflow.update
    async def approve(self, req: CanaryApproval) -> str:
        self._approved_by = req.actor
        # Answered once the promotion is done, so the caller reads the settings it changed.
        await workflow.wait_condition(lambda: self._status != CanaryStatus.AWAITING_APPROVAL)
        return self._status.value

    @approve.validator
    def _can_approve(self, req: CanaryApproval) -> None:
        if self._status != CanaryStatus.AWAITING_APPROVAL or self._aborted is not None:
            raise ValueError(f"the canary is {self._status.value}, not awaiting approval")

    @workflow.update
    async def abort(self, req: CanaryAbort) -> str:
        self._aborted = req
        await workflow.wait_condition(lambda: self._status in (CanaryStatus.PROMOTED, CanaryStatus.ROLLED_BACK))
        return self._status.value

    @abort.validator
    def _can_abort(self, req: CanaryAbort) -> None:
        if self._status in (CanaryStatus.PROMOTED, CanaryStatus.ROLLED_BACK) or self._aborted is not None:
            raise ValueError(f"the canary is {self._status.value}")

    @workflow.query
    def status(self) -> str:
        return self._status.value
