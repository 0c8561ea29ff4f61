"""Endpoint signing secrets at rest: sealed under the tenant's data key, opened only to sign or to show once.

A new or rotated `whsec_` secret is sealed (`core.crypto.secretbox`, AES-256-GCM under the tenant's data key)
before it reaches `webhook_endpoints`, bound to tenant and endpoint by the associated data: a ciphertext copied
into another endpoint's or tenant's row does not open, and a crypto-shred of the tenant makes every one of its
secrets unreadable. The clear secret is handed back to the caller once (to show to the tenant) and otherwise
only opened at each delivery attempt to sign.
"""

from __future__ import annotations

from datetime import datetime

from core.crypto.keyring import Keyring
from core.crypto.secretbox import SecretBox
from webhooks.signing import new_secret
from webhooks.store import Endpoint

WEBHOOK_SECRET_PURPOSE = "aiaas-webhook-secret/v1"


class EndpointSecrets:
    def __init__(self, keyring: Keyring) -> None:
        self._box = SecretBox(keyring, purpose=WEBHOOK_SECRET_PURPOSE)

    async def issue(self, tenant_id: str, endpoint_id: str) -> tuple[str, bytes]:
        """A new secret for this endpoint: in clear (to show once) and sealed (to store)."""
        secret = new_secret()
        return secret, await self._box.seal(tenant_id, endpoint_id, secret)

    async def live(self, tenant_id: str, endpoint: Endpoint, now: datetime) -> list[str]:
        """The secrets to sign with now, opened; `SecretUnavailable` when one does not open."""
        return [await self._box.open(tenant_id, endpoint.id, sealed) for sealed in endpoint.sealed_secrets_at(now)]
