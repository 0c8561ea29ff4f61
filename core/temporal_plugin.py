"""The one Temporal plugin: every client, worker and replayer of the platform is configured by it.

It carries the pydantic data converter (its type adapters shared by the whole process,
`core.payload_converter`), the payload codec that encrypts every payload per tenant, the OpenTelemetry
tracing interceptor, the interceptor that fails registered refusals at once (`core.failure_types`), the
modules workflows may pass through the sandbox, and the domain errors that fail a workflow instead of
retrying its task. Passing it to `Client.connect` also applies it to workers
built on that client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from contracts.errors import WORKFLOW_FAILURE_TYPES
from core.correlation import CorrelationInterceptor
from core.data_converter import context_bound
from core.failure_types import FailFastInterceptor
from core.payload_converter import SharedPydanticPayloadConverter
from core.settings import Settings
from core.telemetry import tracing_enabled

PLUGIN_NAME = "aiaas.core"

# Loaded once outside the sandbox and shared with it: pure types and constants, no side effects.
PASSTHROUGH_MODULES = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "opentelemetry",
    # Logging only (workflow code logs through `workflow.logger`); re-imported per run it would cost time.
    "structlog",
    # The ground floor: every type and name that crosses a workflow boundary, and nothing else of ours.
    "contracts",
)


def _converter(codec: PayloadCodec | None) -> Callable[[DataConverter | None], DataConverter]:
    def configure(existing: DataConverter | None) -> DataConverter:
        return context_bound(
            existing or DataConverter.default,
            payload_converter_class=SharedPydanticPayloadConverter,
            # Failure messages and stack traces travel as a payload, so the codec encrypts them too: a
            # provider error that quotes the user's prompt must not sit in history as plain text.
            failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
            **({"payload_codec": codec} if codec else {}),
        )

    return configure


def _runner(existing: WorkflowRunner | None) -> WorkflowRunner:
    runner = existing or SandboxedWorkflowRunner()
    if isinstance(runner, SandboxedWorkflowRunner):
        return dataclasses.replace(
            runner, restrictions=runner.restrictions.with_passthrough_modules(*PASSTHROUGH_MODULES)
        )
    return runner


def aiaas_plugin(codec: PayloadCodec | None = None) -> SimplePlugin:
    """The plugin; `codec` is the payload codec (`core.crypto.build_codec`), None only where no payload is
    encrypted or decrypted: replaying recorded histories, which are stored decoded.
    """
    return SimplePlugin(
        PLUGIN_NAME,
        data_converter=_converter(codec),
        interceptors=[TracingInterceptor(), CorrelationInterceptor(), FailFastInterceptor()]
        if tracing_enabled()
        else [CorrelationInterceptor(), FailFastInterceptor()],
        workflow_runner=_runner,
        workflow_failure_exception_types=list(WORKFLOW_FAILURE_TYPES),
    )


async def connect_with(settings: Settings, codec: PayloadCodec) -> Client:
    """A client of the settings' Temporal namespace whose payloads go through `codec`.

    Processes build the codec over their database's key store and connect with `db.codec.connect`.
    """
    if not settings.temporal_address:
        raise RuntimeError("TEMPORAL_ADDRESS is not set and no embedded stack is running")
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        plugins=[aiaas_plugin(codec)],
    )
