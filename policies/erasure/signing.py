"""Erasure reports signed with the tenant's Ed25519 key, so whoever holds a report can check it was ours.

Each tenant gets one signing key on first use. The private half is sealed under the tenant's data key
(`core.crypto.secretbox`, bound to tenant and key id) and opened only to sign; the public half is stored in
clear and given out with every report. A report names its key (`signed_with`), and the signature covers the
report's canonical JSON (sorted keys, no spaces, UTF-8), so it can be checked with any Ed25519 library:
`Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canonical(report))`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlmodel.ext.asyncio.session import AsyncSession

from core.crypto.keyring import Keyring
from core.crypto.secretbox import SecretBox
from db.database import run_sql

PURPOSE = "aiaas-erasure-signing-key/v1"
_KEY_OF_TENANT = "SELECT key_id FROM privacy_signing_keys WHERE tenant_id = :t"


def canonical(report: dict[str, Any]) -> bytes:
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def report_sha256(report: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(report)).hexdigest()


class ReportSigner:
    def __init__(self, keyring: Keyring) -> None:
        self._box = SecretBox(keyring, purpose=PURPOSE)

    async def key_id(self, session: AsyncSession, tenant_id: str) -> str:
        """The tenant's signing key id, creating the key on first use (two first uses at once agree)."""
        row = (
            await run_sql(session, "SELECT key_id FROM privacy_signing_keys WHERE tenant_id = :t", {"t": tenant_id})
        ).first()
        if row is not None:
            return str(row.key_id)
        key_id = f"erk_{secrets.token_hex(8)}"
        private = Ed25519PrivateKey.generate()
        seed = base64.b64encode(private.private_bytes_raw()).decode()
        sealed = await self._box.seal(tenant_id, key_id, seed)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        await run_sql(
            session,
            "INSERT INTO privacy_signing_keys (tenant_id, key_id, public_key, private_ciphertext) "
            "VALUES (:t, :k, :pub, :priv) ON CONFLICT (tenant_id) DO NOTHING",
            {"t": tenant_id, "k": key_id, "pub": public, "priv": sealed},
        )
        row = (
            await run_sql(session, "SELECT key_id FROM privacy_signing_keys WHERE tenant_id = :t", {"t": tenant_id})
        ).one()
        return str(row.key_id)

    async def sign(self, session: AsyncSession, tenant_id: str, report: dict[str, Any]) -> str:
        """The base64 signature of `report`, which must name this tenant's key in `signed_with`."""
        row = (
            await run_sql(
                session,
                "SELECT key_id, private_ciphertext FROM privacy_signing_keys WHERE tenant_id = :t AND key_id = :k",
                {"t": tenant_id, "k": report["signed_with"]},
            )
        ).one()
        seed = await self._box.open(tenant_id, row.key_id, bytes(row.private_ciphertext))
        private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))
        return base64.b64encode(private.sign(canonical(report))).decode()


async def public_key(session: AsyncSession, key_id: str) -> bytes | None:
    """The public half of a signing key of the session's tenant (None: not one of this tenant's keys)."""
    row = (
        await run_sql(session, "SELECT public_key FROM privacy_signing_keys WHERE key_id = :k", {"k": key_id})
    ).first()
    return None if row is None else bytes(row.public_key)


def verify(public: bytes, report: dict[str, Any], signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public).verify(raw, canonical(report))
    except (InvalidSignature, ValueError):
        return False
    return True
