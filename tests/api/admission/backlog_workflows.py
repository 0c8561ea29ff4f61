"""A workflow that does nothing, to fill a task queue with work no worker has picked up yet.

Kept apart from the tests so the workflow sandbox imports nothing but Temporal.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BacklogFiller")
class BacklogFiller:
    @workflow.run
    async def run(self) -> None:
        return None
