"""The plugin's data converter bound to a workflow or activity: the codec takes that tenant's scope, the
payload and failure converters are the plugin's own (not rebuilt per binding), and payloads round-trip."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from pydantic import BaseModel
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    WorkflowSerializationContext,
)

from core import data_converter
from core.crypto import PayloadDecryptionError, TenantPayloadCodec, is_encrypted, recorded_scope
from core.data_converter import ContextBoundDataConverter, context_bound
from core.payload_converter import SharedPydanticPayloadConverter
from core.temporal_plugin import aiaas_plugin

from .conftest import new_tenant


class _Message(BaseModel):
    text: str


def _plugin_converter(codec: TenantPayloadCodec | None) -> DataConverter:
    configured = aiaas_plugin(codec).configure_client({"data_converter": DataConverter.default})  # type: ignore[typeddict-item]
    return configured["data_converter"]


def _activity(workflow_id: str) -> ActivitySerializationContext:
    return ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="model.complete",
        activity_task_queue="q",
        workflow_id=workflow_id,
        workflow_type="ConversationWorkflow",
        is_local=False,
    )


async def test_bound_converters_keep_the_plugins_parts_and_take_the_workflows_tenant(
    codec: TenantPayloadCodec,
) -> None:
    converter = _plugin_converter(codec)
    assert isinstance(converter, ContextBoundDataConverter)
    assert converter.payload_converter_class is SharedPydanticPayloadConverter
    assert converter.failure_converter_class is DefaultFailureConverterWithEncodedAttributes
    tenant = new_tenant()
    workflow_id = f"{tenant}:conv:{uuid.uuid4()}"
    for context in (WorkflowSerializationContext(namespace="default", workflow_id=workflow_id), _activity(workflow_id)):
        bound = converter.with_context(context)
        assert type(bound) is ContextBoundDataConverter and bound is not converter
        assert bound.payload_converter is converter.payload_converter
        assert bound.failure_converter is converter.failure_converter
        assert isinstance(bound.payload_codec, TenantPayloadCodec) and bound.payload_codec.scope == tenant
        # The unbound converter is left as it was.
        assert isinstance(converter.payload_codec, TenantPayloadCodec) and converter.payload_codec.scope is None
        [payload] = await bound.encode([_Message(text="card 4111")])
        assert is_encrypted(payload) and recorded_scope(payload) == tenant
        assert await bound.decode([payload], [_Message]) == [_Message(text="card 4111")]


async def test_a_payload_bound_to_one_tenant_does_not_open_in_anothers_workflow(codec: TenantPayloadCodec) -> None:
    converter = _plugin_converter(codec)
    a = converter.with_context(_activity(f"{new_tenant()}:conv:{uuid.uuid4()}"))
    b = converter.with_context(_activity(f"{new_tenant()}:conv:{uuid.uuid4()}"))
    [payload] = await a.encode([_Message(text="tenant A's")])
    with pytest.raises(PayloadDecryptionError):
        await b.decode([payload], [_Message])


def test_without_a_context_aware_part_binding_returns_the_same_converter() -> None:
    converter = context_bound(DataConverter.default, payload_converter_class=SharedPydanticPayloadConverter)
    context = WorkflowSerializationContext(namespace="default", workflow_id=f"{new_tenant()}:conv:x")
    assert converter.with_context(context) is converter
    # Every field `dataclasses.replace` would carry is carried.
    assert {f.name for f in dataclasses.fields(converter) if f.init} == {
        f.name for f in dataclasses.fields(DataConverter.default) if f.init
    }
    assert _plugin_converter(None).payload_codec is None


def test_a_context_bound_again_reuses_its_binding_and_the_kept_bindings_stay_bounded(
    codec: TenantPayloadCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    converter = _plugin_converter(codec)
    tenant = new_tenant()
    context = _activity(f"{tenant}:conv:{uuid.uuid4()}")
    first = converter.with_context(context)
    assert converter.with_context(_activity(context.workflow_id or "")) is first
    other = converter.with_context(_activity(f"{new_tenant()}:conv:{uuid.uuid4()}"))
    assert other is not first and isinstance(other.payload_codec, TenantPayloadCodec)
    assert other.payload_codec.scope != tenant
    monkeypatch.setattr(data_converter, "_BINDINGS_KEPT", 3)
    for _ in range(10):
        converter.with_context(_activity(f"{new_tenant()}:conv:{uuid.uuid4()}"))
    assert len(converter._bindings) <= 3  # type: ignore[attr-defined]
