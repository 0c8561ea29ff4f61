"""Encryption of workflow payloads per tenant, by envelope encryption (data keys wrapped by a KMS)."""

from core.crypto.codec import (
    ENCODING,
    PayloadDecryptionError,
    TenantPayloadCodec,
    is_encrypted,
    recorded_scope,
    scope_of_context,
    scope_of_workflow_id,
)
from core.crypto.factory import build_codec, build_kms, kms_keys_path
from core.crypto.history import decode_history, decode_payloads_in
from core.crypto.keyring import DataKey, DataKeyNotFound, Keyring
from core.crypto.kms import Kms, KmsError, LocalFileKms, WrappedKey
from core.crypto.store import PLATFORM_TENANT, KeyStore, PostgresKeyStore, StoredKey

__all__ = [
    "ENCODING",
    "PLATFORM_TENANT",
    "DataKey",
    "DataKeyNotFound",
    "KeyStore",
    "Keyring",
    "Kms",
    "KmsError",
    "LocalFileKms",
    "PayloadDecryptionError",
    "PostgresKeyStore",
    "StoredKey",
    "TenantPayloadCodec",
    "WrappedKey",
    "build_codec",
    "build_kms",
    "decode_history",
    "decode_payloads_in",
    "is_encrypted",
    "kms_keys_path",
    "recorded_scope",
    "scope_of_context",
    "scope_of_workflow_id",
]
