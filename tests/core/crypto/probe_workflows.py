"""Workflows that put a secret through every payload path the SDK encodes, for the at-rest tests.

Workflow input and result, memo (set at start and upserted), summaries, activity input, result, heartbeat
and failure, local activity (a marker in history), child workflow input and result, signal, update and
query. Kept apart from the tests so the workflow sandbox imports nothing but Temporal.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

_TIMEOUT = timedelta(seconds=30)


@activity.defn(name="probe.echo")
async def echo(secret: str) -> str:
    if not activity.info().is_local:
        activity.heartbeat(f"beat:{secret}")
    return f"activity:{secret}"


@activity.defn(name="probe.fail")
async def fail(secret: str) -> str:
    raise ApplicationError(f"failed:{secret}", {"detail": secret}, type="ProbeFailure", non_retryable=True)


@workflow.defn(name="ProbeChild")
class ProbeChild:
    @workflow.run
    async def run(self, secret: str) -> str:
        return f"child:{secret}"


@workflow.defn(name="ProbeFailing")
class ProbeFailing:
    @workflow.run
    async def run(self, secret: str) -> str:
        raise ApplicationError(f"workflow failed:{secret}", {"detail": secret}, type="ProbeFailure")


@workflow.defn(name="Probe")
class Probe:
    def __init__(self) -> None:
        self._secret = ""
        self._signal: str | None = None
        self._update: str | None = None

    @workflow.run
    async def run(self, secret: str) -> str:
        self._secret = secret
        remote = await workflow.execute_activity(echo, secret, start_to_close_timeout=_TIMEOUT, summary=secret)
        local = await workflow.execute_local_activity(echo, secret, start_to_close_timeout=_TIMEOUT)
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity(
                fail, secret, start_to_close_timeout=_TIMEOUT, retry_policy=RetryPolicy(maximum_attempts=1)
            )
        child = await workflow.execute_child_workflow(ProbeChild.run, secret, id=f"{workflow.info().workflow_id}:child")
        workflow.upsert_memo({"upserted": f"memo:{secret}"})
        await workflow.wait_condition(lambda: self._signal is not None and self._update is not None)
        return "|".join([remote, local, child, self._signal or "", self._update or ""])

    @workflow.signal(name="hint")
    def hint(self, value: str) -> None:
        self._signal = value

    @workflow.update(name="answer")
    def answer(self, value: str) -> str:
        self._update = value
        return f"update:{value}"

    @workflow.query(name="secret")
    def secret(self) -> str:
        return f"query:{self._secret}"
