"""`MailWorkflow`: one message of the mail outbox, sent with the outbox's retries (id `"mail:{message id}"`).

For mail that is not part of a longer run: an invitation, queued by the gateway with the invited person's
link and started here, so a mail server that is down for a while delays the message instead of losing it.
The message itself (recipient, subject, body) stays in the outbox table; the run carries only its id, and
`mail.send` skips a message already sent, so a retried activity or a second start sends nothing twice.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.names import ACT_MAIL_SEND, WF_MAIL
    from contracts.signup import MAIL_RETRY, MAIL_START_TO_CLOSE, SendMailInput


@workflow.defn(name=WF_MAIL)
class MailWorkflow:
    @workflow.run
    async def run(self, inp: SendMailInput) -> None:
        await workflow.execute_activity(
            ACT_MAIL_SEND,
            inp,
            start_to_close_timeout=MAIL_START_TO_CLOSE,
            retry_policy=MAIL_RETRY,
        )
