"""Small secrets at rest (signing secrets and the like), sealed with AES-256-GCM under the tenant's data key.

A sealed secret is `scheme version (1 byte) + key version (4 bytes, big-endian) + nonce (12) + ciphertext`.
The key is the tenant's data key from the keyring, so a key rotation or crypto-shred of the tenant covers it
too. The associated data names the purpose, the tenant, the subject (the row the secret belongs to) and the
key version: a ciphertext copied into another tenant's or subject's row, or into another kind of secret,
does not open.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag

from core.crypto.factory import build_kms
from core.crypto.keyring import Keyring
from core.crypto.store import PostgresKeyStore, TenantSessions
from core.settings import Settings

_SCHEME_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SecretUnavailable(Exception):
    """A stored secret cannot be opened: its data key is gone or the ciphertext was altered or moved."""


def build_keyring(sessions: TenantSessions, settings: Settings) -> Keyring:
    """A keyring reading wrapped data keys through `sessions` (a `db.database.Database`)."""
    return Keyring(
        PostgresKeyStore(sessions),
        build_kms(settings),
        ttl_seconds=settings.data_key_cache_seconds,
        max_entries=settings.data_key_cache_entries,
    )


class SecretBox:
    """Seals and opens one kind of secret; `purpose` tells kinds apart (e.g. `aiaas-connector-secret/v1`)."""

    def __init__(self, keyring: Keyring, *, purpose: str) -> None:
        if "\x00" in purpose:
            raise ValueError("a purpose must not contain NUL")
        self._keyring = keyring
        self._purpose = purpose

    async def seal(self, tenant_id: str, subject: str, secret: str) -> bytes:
        key = await self._keyring.active(tenant_id)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        version = key.version.to_bytes(4, "big")
        sealed = key.aead.encrypt(nonce, secret.encode(), self._aad(tenant_id, subject, key.version))
        return _SCHEME_VERSION + version + nonce + sealed

    async def open(self, tenant_id: str, subject: str, blob: bytes) -> str:
        blob = bytes(blob)
        if len(blob) < 1 + 4 + _NONCE_BYTES + _TAG_BYTES or blob[:1] != _SCHEME_VERSION:
            raise SecretUnavailable("the stored secret is not in a known format")
        version = int.from_bytes(blob[1:5], "big")
        try:
            key = await self._keyring.get(tenant_id, version)
            plain = key.aead.decrypt(
                blob[5 : 5 + _NONCE_BYTES], blob[5 + _NONCE_BYTES :], self._aad(tenant_id, subject, version)
            )
        except (InvalidTag, LookupError, ValueError) as exc:
            raise SecretUnavailable(f"the stored secret does not open: {type(exc).__name__}") from exc
        return plain.decode()

    def _aad(self, tenant_id: str, subject: str, version: int) -> bytes:
        return f"{self._purpose}\x00{tenant_id}\x00{subject}\x00{version}".encode()
