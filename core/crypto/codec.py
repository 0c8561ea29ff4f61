"""The payload codec: every Temporal payload AES-256-GCM encrypted under its tenant's data key.

An encrypted payload is the whole original payload (metadata and data) sealed, so not even its encoding or
message type shows in history. Its own metadata says `binary/encrypted`, the key scope and the key version,
which is what a decoder needs to find the key. The additional authenticated data binds the ciphertext to that
scope and version: a payload copied into another tenant's workflow does not open there.

The scope comes from the workflow id the SDK hands the codec (`"{tenant_id}:conv:{conversation_id}"`), never
from the payload, so a payload cannot choose the key it will be opened with.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Self

from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from core.crypto.keyring import DataKey, DataKeyNotFound, Keyring
from core.crypto.kms import KmsError
from core.crypto.store import PLATFORM_TENANT, check_scope, is_tenant_id

ENCODING = b"binary/encrypted"
META_ENCODING = "encoding"
META_SCOPE = "encryption-tenant"
META_VERSION = "encryption-key-version"
META_SCHEME = "encryption-scheme"
SCHEME = b"aes256gcm/v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_ID_SEPARATOR = ":"


class PayloadDecryptionError(Exception):
    """An encrypted payload that cannot be opened here: wrong tenant, unknown key, or altered bytes."""


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get(META_ENCODING) == ENCODING


def recorded_scope(payload: Payload) -> str | None:
    """The tenant (or `_platform`) an encrypted payload says it belongs to; None for other payloads."""
    if not is_encrypted(payload):
        return None
    return payload.metadata.get(META_SCOPE, b"").decode("utf-8", "replace")


def scope_of_workflow_id(workflow_id: str | None) -> str:
    if not workflow_id or _ID_SEPARATOR not in workflow_id:
        return PLATFORM_TENANT
    prefix = workflow_id.split(_ID_SEPARATOR, 1)[0]
    # A prefix that is no tenant id (platform workflows such as billing runs) gets the platform key rather
    # than failing: refusing would stop those workflows, and their payloads belong to no tenant.
    return prefix if is_tenant_id(prefix) else PLATFORM_TENANT


def scope_of_context(context: SerializationContext) -> str:
    if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
        return scope_of_workflow_id(context.workflow_id)
    # Nexus operations name an endpoint and a service, not a workflow: nothing ties them to a tenant.
    return PLATFORM_TENANT


def _aad(scope: str, version: int) -> bytes:
    return b"aiaas-payload/" + SCHEME + b"\x00" + scope.encode() + b"\x00" + str(version).encode()


class TenantPayloadCodec(PayloadCodec, WithSerializationContext):
    """Without a context (the SDK's context-free paths, the codec endpoint) it encrypts under the platform key
    and opens any scope's payload; bound to a workflow it encrypts under that workflow's tenant and opens
    only that tenant's and the platform's payloads.
    """

    def __init__(self, keyring: Keyring, *, scope: str | None = None) -> None:
        self.keyring = keyring
        self.scope = None if scope is None else check_scope(scope)

    def with_context(self, context: SerializationContext) -> Self:
        return type(self)(self.keyring, scope=scope_of_context(context))

    def for_scope(self, scope: str | None) -> TenantPayloadCodec:
        return TenantPayloadCodec(self.keyring, scope=scope)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not payloads:
            return []
        key = await self.keyring.active(self.scope or PLATFORM_TENANT)
        return [_seal(key, payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self._open(payload) if is_encrypted(payload) else payload for payload in payloads]

    async def _open(self, payload: Payload) -> Payload:
        scope, version = _header(payload)
        if self.scope is not None and scope not in (self.scope, PLATFORM_TENANT):
            raise PayloadDecryptionError("the payload belongs to another tenant than this workflow")
        try:
            key = await self.keyring.get(scope, version)
        except (DataKeyNotFound, KmsError) as exc:
            raise PayloadDecryptionError(f"no usable data key for the payload: {exc}") from exc
        sealed = payload.data
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            raise PayloadDecryptionError("the encrypted payload is truncated")
        try:
            plain = key.aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _aad(scope, version))
            return Payload.FromString(plain)
        except (InvalidTag, DecodeError) as exc:
            raise PayloadDecryptionError("the encrypted payload does not verify under its tenant's key") from exc


def _seal(key: DataKey, payload: Payload) -> Payload:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = key.aead.encrypt(nonce, payload.SerializeToString(), _aad(key.tenant_id, key.version))
    return Payload(
        metadata={
            META_ENCODING: ENCODING,
            META_SCHEME: SCHEME,
            META_SCOPE: key.tenant_id.encode(),
            META_VERSION: str(key.version).encode(),
        },
        data=nonce + sealed,
    )


def _header(payload: Payload) -> tuple[str, int]:
    if payload.metadata.get(META_SCHEME) != SCHEME:
        raise PayloadDecryptionError("unknown encryption scheme")
    try:
        scope = check_scope(payload.metadata[META_SCOPE].decode())
        version = int(payload.metadata[META_VERSION].decode())
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise PayloadDecryptionError("the encrypted payload's key reference is malformed") from exc
    if version < 1:
        raise PayloadDecryptionError("the encrypted payload's key version is malformed")
    return scope, version
