"""Correlation ids in every log line: the request id in the gateway, the workflow and activity in workers."""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a sane token (so traces join across systems), else a fresh one."""
    if header and _VALID_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


class _ActivityCorrelation(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity=info.activity_type,
            attempt=info.attempt,
        ):
            return await self.next.execute_activity(input)


class CorrelationInterceptor(Interceptor):
    """Binds the workflow and activity ids to structlog's context for the length of each activity."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityCorrelation(super().intercept_activity(next))
