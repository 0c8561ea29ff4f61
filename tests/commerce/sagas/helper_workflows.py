"""A workflow that uses `Saga` directly, for testing the helper alone with stand-in activities."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts.sagas import CompensationReport
    from workflows.saga import Saga

UNDO = "probe.undo"
PROBE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3)


@workflow.defn(name="SagaProbeWorkflow")
class SagaProbeWorkflow:
    @workflow.run
    async def run(self, steps: list[str]) -> CompensationReport:
        saga = Saga("probe-saga", tenant_id="tenant-x", conversation_id="conv-x", name="probe")
        for step in steps:
            saga.add_compensation(
                UNDO,
                step,
                description=f"undo {step}",
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=PROBE_RETRY,
            )
        report = await saga.compensate(reason="a later step failed", data={"order_id": "o-1"})
        # Asking again repeats nothing: the same report, no second run of any compensation.
        if await saga.compensate() != report:
            raise RuntimeError("a second compensate() answered differently")
        return report
