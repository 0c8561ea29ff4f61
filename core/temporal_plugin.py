"""The one Temporal plugin: every client, worker and replayer of the platform is configured by it.

It carries the pydantic data converter, the OpenTelemetry tracing interceptor, the modules workflows may
pass through the sandbox, and the domain errors that fail a workflow instead of retrying its task.
Passing it to `Client.connect` also applies it to workers built on that client.
"""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from core.correlation import CorrelationInterceptor
from core.settings import Settings
from workflows.errors import ConversationError

PLUGIN_NAME = "aiaas.core"

# Loaded once outside the sandbox and shared with it: pure types and constants, no side effects.
PASSTHROUGH_MODULES = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "opentelemetry",
    "policies.retry",
    "workflows.conversation_types",
    "workflows.errors",
)

WORKFLOW_FAILURE_TYPES: tuple[type[BaseException], ...] = (ConversationError,)


def _converter(existing: DataConverter | None) -> DataConverter:
    base = existing or DataConverter.default
    return dataclasses.replace(base, payload_converter_class=PydanticPayloadConverter)


def _runner(existing: WorkflowRunner | None) -> WorkflowRunner:
    runner = existing or SandboxedWorkflowRunner()
    if isinstance(runner, SandboxedWorkflowRunner):
        return dataclasses.replace(
            runner, restrictions=runner.restrictions.with_passthrough_modules(*PASSTHROUGH_MODULES)
        )
    return runner


def aiaas_plugin() -> SimplePlugin:
    return SimplePlugin(
        PLUGIN_NAME,
        data_converter=_converter,
        interceptors=[TracingInterceptor(), CorrelationInterceptor()],
        workflow_runner=_runner,
        workflow_failure_exception_types=list(WORKFLOW_FAILURE_TYPES),
    )


async def connect(settings: Settings) -> Client:
    if not settings.temporal_address:
        raise RuntimeError("TEMPORAL_ADDRESS is not set and no embedded stack is running")
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, plugins=[aiaas_plugin()]
    )
