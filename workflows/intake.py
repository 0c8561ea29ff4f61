"""How `ConversationWorkflow` takes a message in: the ids it has seen, and the step that records a message.

A message is taken in when its `submit_message` update is accepted into the run's history. Only then is it
recorded (its transcript row and `message.accepted`), by an ordinary activity that the same workflow task
schedules. A local activity runs while that task is still open: a worker that hung past the task's timeout
(or died) before completing it left the message recorded but never taken in, and a retry that trusted the
row stopped there. Runs that took a message in before this changed keep the old step until they continue as
new (`RECORD_AFTER_ACCEPT`); their repeats still reach them, since the gateway always re-sends the update.

Whether a message repeats one taken in before is decided here, from the run's own state: the ids this run
and the runs it continues have seen, and for a conversation whose run has closed since, whether the
transcript holds an answer (which only a turn of an accepted message writes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.agent_cache import AGENT_ONCE_PATCH
from workflows.turn_io import PERSISTENCE_SCHEDULE_TO_CLOSE, run_local

with workflow.unsafe.imports_passed_through():
    from contracts.conversation import SEEN_IDS_KEPT, RecordedMessage, RecordUserMessageInput, SubmitMessage
    from contracts.names import ACT_RECORD_USER_MESSAGE
    from contracts.retry import PERSISTENCE_RETRY, PERSISTENCE_START_TO_CLOSE

RECORD_AFTER_ACCEPT = "record-after-accept"


def not_recorded() -> ApplicationError:
    return ApplicationError(
        "the message could not be recorded; retry it", type="MessageNotRecorded", non_retryable=True
    )


class Intake:
    def __init__(self, tenant_id: str, conversation_id: str, seen: Iterable[str]) -> None:
        self._tenant_id = tenant_id
        self._conversation_id = conversation_id
        self._seen: OrderedDict[str, None] = OrderedDict((mid, None) for mid in seen)
        # Messages taken in whose recording has not finished; a repeat waits for it.
        self._recording: set[str] = set()
        # The agent stamp read with each message taken in and not yet queued (`workflows.agent_cache`).
        self._stamps: dict[str, str] = {}

    @property
    def seen_ids(self) -> list[str]:
        return list(self._seen)

    def is_repeat(self, message_id: str) -> bool:
        return message_id in self._seen

    def pop_stamp(self, message_id: str) -> str:
        """The agent stamp read when `message_id` was recorded; empty when none was."""
        return self._stamps.pop(message_id, "")

    async def take(self, msg: SubmitMessage, agent: str = "") -> bool:
        """Record `msg`: True when it is new and goes into the queue, False when it repeats one already taken
        in. Raises `MessageNotRecorded` when it could not be recorded; it is then forgotten, so a retry counts
        as new. From the `agent-def-once` patch on, `agent`'s stamp is read with the row (`pop_stamp`)."""
        if not workflow.patched(RECORD_AFTER_ACCEPT):
            return await self._take_recorded_first(msg)
        message_id = msg.message_id
        if message_id in self._seen:
            # Answering a repeat before the original is recorded could confirm a message that then fails.
            await workflow.wait_condition(lambda: message_id not in self._recording)
            if message_id in self._seen:
                return False
            raise not_recorded()
        # Remembered before awaiting, so a concurrent repeat is answered as one.
        self._remember(message_id)
        self._recording.add(message_id)
        stamped = agent if agent and workflow.patched(AGENT_ONCE_PATCH) else ""
        try:
            recorded: RecordedMessage = await workflow.execute_activity(
                ACT_RECORD_USER_MESSAGE,
                self._record_input(msg, stamped),
                result_type=RecordedMessage,
                start_to_close_timeout=PERSISTENCE_START_TO_CLOSE,
                schedule_to_close_timeout=PERSISTENCE_SCHEDULE_TO_CLOSE,
                retry_policy=PERSISTENCE_RETRY,
            )
        except ActivityError as err:
            self._seen.pop(message_id, None)
            raise not_recorded() from err
        finally:
            self._recording.discard(message_id)
        if recorded.agent_stamp and not recorded.answered:
            self._stamps[message_id] = recorded.agent_stamp
        return not recorded.answered

    async def _take_recorded_first(self, msg: SubmitMessage) -> bool:
        """The step as runs begun before `RECORD_AFTER_ACCEPT` recorded it: a local activity."""
        if msg.message_id in self._seen:
            return False
        self._remember(msg.message_id)
        try:
            await run_local(ACT_RECORD_USER_MESSAGE, self._record_input(msg))
        except ActivityError as err:
            self._seen.pop(msg.message_id, None)
            raise not_recorded() from err
        return True

    def _record_input(self, msg: SubmitMessage, agent: str = "") -> RecordUserMessageInput:
        return RecordUserMessageInput(
            tenant_id=self._tenant_id,
            conversation_id=self._conversation_id,
            message_id=msg.message_id,
            content=msg.content,
            client_message_id=msg.client_message_id,
            agent=agent,
        )

    def _remember(self, message_id: str) -> None:
        self._seen[message_id] = None
        while len(self._seen) > SEEN_IDS_KEPT:
            self._seen.popitem(last=False)
