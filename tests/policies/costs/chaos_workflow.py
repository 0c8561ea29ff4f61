"""A test-only workflow for the exactly-once chaos test: a run of metered model calls, one after another.

Loaded into the workflow sandbox, so it imports only pure modules. The activity is named by string; its
implementation lives in `tests.policies.costs.chaos_worker`, in the worker process the test kills and restarts.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

ACT_METERED_CALL = "tests.policies.costs.metered_call"
CHAOS_MODEL = "scripted/echo"
CHAOS_AGENT = "chaos"


class MeteredCallInput(BaseModel):
    tenant_id: str
    conversation_id: str
    message_id: str
    step: int
    prompt_tokens: int
    completion_tokens: int
    sleep_seconds: float


class ChaosRunInput(BaseModel):
    tenant_id: str
    conversation_id: str
    run: int
    calls: int
    sleep_seconds: float


def usage_for(run: int, step: int) -> tuple[int, int]:
    """The deterministic usage of one call: what the ledger must hold for it, exactly once."""
    return 20 + step, 3 + (run * 7 + step) % 11


def message_id_for(run: int) -> str:
    return f"chaos-message-{run}"


def workflow_id_for(tenant_id: str, run: int) -> str:
    return f"{tenant_id}:chaos:{run}"


@workflow.defn(name="tests.ChaosMetering")
class ChaosMeteringWorkflow:
    @workflow.run
    async def run(self, inp: ChaosRunInput) -> int:
        for step in range(inp.calls):
            prompt, completion = usage_for(inp.run, step)
            await workflow.execute_activity(
                ACT_METERED_CALL,
                MeteredCallInput(
                    tenant_id=inp.tenant_id,
                    conversation_id=inp.conversation_id,
                    message_id=message_id_for(inp.run),
                    step=step,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    sleep_seconds=inp.sleep_seconds,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                # A killed worker's attempts are noticed by their missing heartbeats, not after 30 s.
                heartbeat_timeout=timedelta(seconds=2),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=200),
                    backoff_coefficient=1.5,
                    maximum_interval=timedelta(seconds=1),
                ),
            )
        return inp.calls
