"""A deliberately incompatible release of `ConversationWorkflow`, for the deploy drill (`deploy_drill.py`).

Every turn first calls one more activity (`deploy_drill.mark`) before the agent loop. Replayed on a history
written by the released code, the first turn's commands no longer match and the run fails its workflow task
with a nondeterminism error: exactly the change a deploy must not apply to runs already going. The activity
records which turns ran on this code, so the drill can tell which version answered each turn.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import VersioningBehavior

from workflows.conversation import ConversationWorkflow

with workflow.unsafe.imports_passed_through():
    from contracts.conversation import ConversationInput, ConversationResult, QueuedMessage
    from contracts.names import WF_CONVERSATION

ACT_DEPLOY_MARK = "deploy_drill.mark"


class MarkLog:
    """The message ids whose turns ran on the changed code, in this process."""

    def __init__(self) -> None:
        self.message_ids: set[str] = set()

    @activity.defn(name=ACT_DEPLOY_MARK)
    async def mark(self, message_id: str) -> None:
        self.message_ids.add(message_id)


@workflow.defn(name=WF_CONVERSATION, versioning_behavior=VersioningBehavior.PINNED)
class ChangedConversationWorkflow(ConversationWorkflow):
    @workflow.run
    async def run(self, inp: ConversationInput) -> ConversationResult:
        return await super().run(inp)

    async def _run_turn(self, msg: QueuedMessage) -> None:
        await workflow.execute_activity(ACT_DEPLOY_MARK, msg.message_id, start_to_close_timeout=timedelta(seconds=10))
        await super()._run_turn(msg)
