"""The payload codec: per-tenant round trips, tenant binding, rotation, pass-through, and scope from context."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    NexusSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.exceptions import ApplicationError

from core.crypto import (
    ENCODING,
    PLATFORM_TENANT,
    Keyring,
    PayloadDecryptionError,
    TenantPayloadCodec,
    is_encrypted,
    recorded_scope,
    scope_of_context,
)
from core.temporal_plugin import aiaas_plugin

from .conftest import for_tenant, for_workflow, new_tenant


def _json(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_round_trip_per_tenant(codec: TenantPayloadCodec) -> None:
    for tenant in (new_tenant(), new_tenant()):
        bound = for_tenant(codec, tenant)
        original = _json(f"card 4111 of {tenant}")
        [encrypted] = await bound.encode([original])
        assert encrypted.metadata["encoding"] == ENCODING
        assert recorded_scope(encrypted) == tenant
        assert encrypted.metadata["encryption-key-version"] == b"1"
        assert b"4111" not in encrypted.SerializeToString() and b"json/plain" not in encrypted.data
        assert await bound.decode([encrypted]) == [original]
        # The unbound codec (codec endpoint, history decoding) opens it by the tenant it records.
        assert await codec.decode([encrypted]) == [original]


async def test_each_encryption_uses_a_fresh_nonce(codec: TenantPayloadCodec) -> None:
    bound = for_tenant(codec, new_tenant())
    first, second = await bound.encode([_json("same"), _json("same")])
    assert first.data != second.data


async def test_a_payload_moved_to_another_tenant_does_not_open(codec: TenantPayloadCodec) -> None:
    a, b = new_tenant(), new_tenant()
    [from_a] = await for_tenant(codec, a).encode([_json("tenant A's secret")])
    await for_tenant(codec, b).encode([_json("gives B a key of its own")])
    with pytest.raises(PayloadDecryptionError, match="another tenant"):
        await for_tenant(codec, b).decode([from_a])
    # Relabelled as B's, it fails the authentication tag: B's key and B's additional data do not match.
    relabelled = Payload()
    relabelled.CopyFrom(from_a)
    relabelled.metadata["encryption-tenant"] = b.encode()
    with pytest.raises(PayloadDecryptionError, match="does not verify"):
        await for_tenant(codec, b).decode([relabelled])
    with pytest.raises(PayloadDecryptionError, match="does not verify"):
        await codec.decode([relabelled])


async def test_altered_ciphertext_or_key_reference_is_refused(codec: TenantPayloadCodec) -> None:
    tenant = new_tenant()
    bound = for_tenant(codec, tenant)
    [encrypted] = await bound.encode([_json("x")])
    flipped = Payload()
    flipped.CopyFrom(encrypted)
    flipped.data = encrypted.data[:-1] + bytes([encrypted.data[-1] ^ 1])
    truncated = Payload(metadata=dict(encrypted.metadata), data=encrypted.data[:10])
    unknown_version = Payload(metadata={**encrypted.metadata, "encryption-key-version": b"9"}, data=encrypted.data)
    bad_version = Payload(metadata={**encrypted.metadata, "encryption-key-version": b"one"}, data=encrypted.data)
    for tampered in (flipped, truncated, unknown_version, bad_version):
        with pytest.raises(PayloadDecryptionError):
            await bound.decode([tampered])


async def test_rotation_keeps_old_payloads_readable_and_encrypts_new_ones_with_the_new_key(
    codec: TenantPayloadCodec, keyring: Keyring
) -> None:
    tenant = new_tenant()
    bound = for_tenant(codec, tenant)
    [old] = await bound.encode([_json("before")])
    await keyring.rotate(tenant)
    [new] = await bound.encode([_json("after")])
    assert (old.metadata["encryption-key-version"], new.metadata["encryption-key-version"]) == (b"1", b"2")
    assert await bound.decode([old, new]) == [_json("before"), _json("after")]


async def test_plain_payloads_pass_through_decode_unchanged(codec: TenantPayloadCodec) -> None:
    bound = for_tenant(codec, new_tenant())
    plain = [_json("recorded before encryption"), Payload(metadata={"encoding": b"binary/null"})]
    [encrypted] = await bound.encode([_json("now")])
    decoded = await bound.decode([plain[0], encrypted, plain[1]])
    assert decoded[0] is plain[0] and decoded[2] is plain[1]
    assert decoded[1] == _json("now")
    assert await codec.decode([]) == [] and await codec.encode([]) == []


async def test_without_a_tenant_payloads_use_the_platform_key(codec: TenantPayloadCodec) -> None:
    tenant = new_tenant()
    platform_wf = for_workflow(codec, f"billing:{uuid.uuid4()}")
    for unscoped in (codec, platform_wf, for_workflow(codec, "no-prefix"), for_workflow(codec, "NOT-A-UUID:conv:1")):
        [encrypted] = await unscoped.encode([_json("platform data")])
        assert recorded_scope(encrypted) == PLATFORM_TENANT
    [platform_payload] = await codec.encode([_json("from an operator")])
    # A tenant's workflow accepts the platform's payloads (operator signals, context-free SDK paths)...
    assert await for_tenant(codec, tenant).decode([platform_payload]) == [_json("from an operator")]
    # ...but a platform workflow does not accept a tenant's.
    [tenant_payload] = await for_tenant(codec, tenant).encode([_json("tenant data")])
    with pytest.raises(PayloadDecryptionError):
        await platform_wf.decode([tenant_payload])


def test_scope_comes_from_the_workflow_id_in_every_context() -> None:
    tenant = new_tenant()
    workflow_id = f"{tenant}:conv:{uuid.uuid4()}"
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="t",
        activity_task_queue="q",
        workflow_id=workflow_id,
        workflow_type="W",
        is_local=False,
    )
    assert scope_of_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)) == tenant
    assert scope_of_context(activity) == tenant
    assert scope_of_context(dataclasses.replace(activity, is_local=True)) == tenant
    # A standalone activity (started by a client, not a workflow) and Nexus calls name no workflow.
    assert scope_of_context(dataclasses.replace(activity, workflow_id=None)) == PLATFORM_TENANT
    assert scope_of_context(NexusSerializationContext(endpoint="e", service="s", operation="o")) == PLATFORM_TENANT


async def test_failure_messages_are_encrypted_too(codec: TenantPayloadCodec) -> None:
    """The plugin's converter moves message and stack trace into a payload, which the codec encrypts."""
    converter = aiaas_plugin(codec).configure_client({"data_converter": DataConverter.default})["data_converter"]  # type: ignore[typeddict-item]
    bound = converter.with_context(WorkflowSerializationContext(namespace="default", workflow_id=f"{new_tenant()}:x"))
    failure = Failure()
    await bound.encode_failure(ApplicationError("the user wrote 4111 1111", {"card": "4111"}), failure)
    assert "4111" not in failure.message and b"4111" not in failure.SerializeToString()
    assert is_encrypted(failure.encoded_attributes)
    assert all(is_encrypted(p) for p in failure.application_failure_info.details.payloads)
    decoded = await bound.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == "the user wrote 4111 1111"
