"""`KeyRotationWorkflow`: a tenant's sealed fields moved to a new data key version, then the old ones retired.

One run at a time per tenant (id `"{tenant}:key-rotation"`, started by `POST /v1/keys/rotations` or
`aiaas keys rotate`):
1. add a data key version (or, with `new_version` false, keep the active one: an upgrade's backlog of rows in
   clear is sealed the same way);
2. wait `settle_seconds`, the data-key cache TTL, after which no process seals with the previous version;
3. re-encrypt in slices of committed batches (`activities.key_rotation.reseal`, heartbeating) until no row is
   in clear or below the new version;
4. retire the older versions for fields, and audit it.
The rows are the progress record, so a worker killed anywhere resumes where the rows say; the `progress`
query reports the phase and the counts. The history carries versions and counts only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.key_rotation import (
        ROTATION_HEARTBEAT,
        ROTATION_KEY_TIMEOUT,
        ROTATION_RESEAL_TIMEOUT,
        KeyRotationInput,
        KeyRotationProgress,
        KeyVersion,
        ResealInput,
        ResealResult,
        RetireInput,
        RetireResult,
        RotateKeyInput,
    )
    from contracts.names import ACT_KEYS_ACTIVE, ACT_KEYS_RESEAL, ACT_KEYS_RETIRE, ACT_KEYS_ROTATE, WF_KEY_ROTATION
    from contracts.retry import KEY_ROTATION_RETRY

# A retire refused because a writer held rows during the last pass: re-encrypt and ask again, this often.
_RETIRE_TRIES = 5


@workflow.defn(name=WF_KEY_ROTATION)
class KeyRotationWorkflow:
    def __init__(self) -> None:
        self._progress = KeyRotationProgress()

    @workflow.query(name="progress")
    def progress(self) -> KeyRotationProgress:
        return self._progress

    def _set(self, **changes: object) -> None:
        self._progress = self._progress.model_copy(update=changes)
        workflow.set_current_details(
            f"**Key rotation** to version {self._progress.target_version}: {self._progress.phase}, "
            f"{self._progress.messages} messages and {self._progress.tool_calls} tool calls re-encrypted"
        )

    @workflow.run
    async def run(self, inp: KeyRotationInput) -> KeyRotationProgress:
        current = await workflow.execute_activity(
            ACT_KEYS_ACTIVE,
            inp.tenant_id,
            result_type=KeyVersion,
            start_to_close_timeout=ROTATION_KEY_TIMEOUT,
            retry_policy=KEY_ROTATION_RETRY,
        )
        target = current.version
        if inp.new_version:
            self._set(phase="rotating", from_version=current.version)
            rotated = await workflow.execute_activity(
                ACT_KEYS_ROTATE,
                RotateKeyInput(tenant_id=inp.tenant_id, above_version=current.version),
                result_type=KeyVersion,
                start_to_close_timeout=ROTATION_KEY_TIMEOUT,
                retry_policy=KEY_ROTATION_RETRY,
            )
            target = rotated.version
            self._set(phase="settling", target_version=target)
            await workflow.sleep(timedelta(seconds=inp.settle_seconds))
        self._set(phase="re-encrypting", from_version=current.version, target_version=target)
        for _ in range(_RETIRE_TRIES):
            await self._reseal(inp, target)
            try:
                retired = await workflow.execute_activity(
                    ACT_KEYS_RETIRE,
                    RetireInput(
                        tenant_id=inp.tenant_id,
                        actor=inp.actor,
                        target_version=target,
                        workflow_id=workflow.info().workflow_id,
                        messages=self._progress.messages,
                        tool_calls=self._progress.tool_calls,
                    ),
                    result_type=RetireResult,
                    start_to_close_timeout=ROTATION_KEY_TIMEOUT,
                    retry_policy=KEY_ROTATION_RETRY,
                )
            except ActivityError:
                await workflow.sleep(timedelta(seconds=5))
                continue
            self._set(phase="completed", retired_versions=retired.retired_versions)
            return self._progress
        raise ApplicationError("rows kept appearing below the new key version", type="RotationIncomplete")

    async def _reseal(self, inp: KeyRotationInput, target: int) -> None:
        while True:
            done = await workflow.execute_activity(
                ACT_KEYS_RESEAL,
                ResealInput(tenant_id=inp.tenant_id, target_version=target, batch_size=inp.batch_size),
                result_type=ResealResult,
                start_to_close_timeout=ROTATION_RESEAL_TIMEOUT,
                heartbeat_timeout=ROTATION_HEARTBEAT,
                retry_policy=KEY_ROTATION_RETRY,
            )
            self._set(
                messages=self._progress.messages + done.messages,
                tool_calls=self._progress.tool_calls + done.tool_calls,
            )
            if done.done:
                return
