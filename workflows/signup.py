"""`SignupWorkflow`: one self-serve signup, from the verification mail to a tenant with its subscription.

The run draws a nonce, queues the verification mail in the outbox (`signup.prepare`; an address that owns a
tenant gets a notice instead, and the run ends the same way an unverified one does, so the API never says
which), sends it (`mail.send`), and waits for the `verify` update until the link expires. The update
carries the nonce of the signed token; the validator refuses another run's nonce and a second use. Then
the tenant is created on the trial plan with its owner key (`signup.create_tenant`: the tenant id is drawn
here, so a retried activity finds its own tenant), its `SubscriptionWorkflow` starts on a trial
(`signup.start_subscription`), and the signup row records the outcome (`signup.finish`).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.names import (
        ACT_MAIL_SEND,
        ACT_SIGNUP_CREATE_TENANT,
        ACT_SIGNUP_FINISH,
        ACT_SIGNUP_PREPARE,
        ACT_SIGNUP_START_SUBSCRIPTION,
        WF_SIGNUP,
    )
    from contracts.signup import (
        MAIL_RETRY,
        MAIL_START_TO_CLOSE,
        SIGNUP_RETRY,
        SIGNUP_START_TO_CLOSE,
        CreateSignupTenantInput,
        FinishSignupInput,
        PrepareSignupInput,
        PrepareSignupResult,
        SendMailInput,
        SignupInput,
        SignupOutcome,
        SignupResult,
        StartSignupSubscriptionInput,
        VerifyRequest,
        VerifyResult,
    )


@workflow.defn(name=WF_SIGNUP)
class SignupWorkflow:
    @workflow.init
    def __init__(self, inp: SignupInput) -> None:
        self._nonce = ""
        self._verified = False
        self._expired = False
        self._tenant_id: str | None = None

    @workflow.run
    async def run(self, inp: SignupInput) -> SignupResult:
        self._nonce = workflow.uuid4().hex
        expires_at = workflow.now() + timedelta(seconds=inp.ttl_seconds)
        prepared = await workflow.execute_activity(
            ACT_SIGNUP_PREPARE,
            PrepareSignupInput(
                signup_id=inp.signup_id,
                email=inp.email,
                email_digest=inp.email_digest,
                company=inp.company,
                nonce=self._nonce,
                expires_at=expires_at,
            ),
            result_type=PrepareSignupResult,
            start_to_close_timeout=SIGNUP_START_TO_CLOSE,
            retry_policy=SIGNUP_RETRY,
        )
        await workflow.execute_activity(
            ACT_MAIL_SEND,
            SendMailInput(message_id=prepared.message_id),
            start_to_close_timeout=MAIL_START_TO_CLOSE,
            retry_policy=MAIL_RETRY,
        )
        if prepared.existing:
            # No link was sent, so nothing can verify; the run ends as an unverified one would.
            self._expired = True
            return await self._finish(inp, SignupOutcome.EXISTING)
        try:
            await workflow.wait_condition(lambda: self._verified, timeout=expires_at - workflow.now())
        except TimeoutError:
            self._expired = True
            await workflow.wait_condition(workflow.all_handlers_finished)
            return await self._finish(inp, SignupOutcome.EXPIRED)
        tenant_id = str(workflow.uuid4())
        await workflow.execute_activity(
            ACT_SIGNUP_CREATE_TENANT,
            CreateSignupTenantInput(
                signup_id=inp.signup_id,
                tenant_id=tenant_id,
                company=inp.company,
                email_digest=inp.email_digest,
                plan=inp.trial_plan,
            ),
            start_to_close_timeout=SIGNUP_START_TO_CLOSE,
            retry_policy=SIGNUP_RETRY,
        )
        self._tenant_id = tenant_id
        await workflow.execute_activity(
            ACT_SIGNUP_START_SUBSCRIPTION,
            StartSignupSubscriptionInput(
                tenant_id=tenant_id, plan=inp.trial_plan, trial_days=inp.trial_days, started_at=workflow.now()
            ),
            start_to_close_timeout=SIGNUP_START_TO_CLOSE,
            retry_policy=SIGNUP_RETRY,
        )
        result = await self._finish(inp, SignupOutcome.CREATED, tenant_id)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _finish(self, inp: SignupInput, outcome: SignupOutcome, tenant_id: str | None = None) -> SignupResult:
        await workflow.execute_activity(
            ACT_SIGNUP_FINISH,
            FinishSignupInput(signup_id=inp.signup_id, outcome=outcome, tenant_id=tenant_id),
            start_to_close_timeout=SIGNUP_START_TO_CLOSE,
            retry_policy=SIGNUP_RETRY,
        )
        return SignupResult(outcome=outcome, tenant_id=tenant_id)

    @workflow.update(name="verify")
    async def verify(self, req: VerifyRequest) -> VerifyResult:
        self._verified = True
        # Answer once the tenant exists, so the response can hand over its first key.
        await workflow.wait_condition(lambda: self._tenant_id is not None)
        return VerifyResult(tenant_id=self._tenant_id or "")

    @verify.validator
    def _validate_verify(self, req: VerifyRequest) -> None:
        if not self._nonce or req.nonce != self._nonce:
            raise ValueError("the token does not belong to this signup")
        if self._verified:
            raise ValueError("the token was used already")
        if self._expired:
            raise ValueError("the token has expired")
