"""Provider credentials at rest: sealed under the tenant's data key, like webhook and connector secrets.

A channel has up to two: the secret that verifies inbound signatures (Twilio auth token, Slack signing
secret, Meta app secret, Mailgun webhook signing key) and the token that authenticates replies (Twilio's
auth token again, a Slack bot token, a WhatsApp access token, a Mailgun API key). Each is sealed with
AES-256-GCM (`core.crypto.secretbox`) bound to tenant, channel and which of the two it is, so a ciphertext
copied to another channel, tenant or field does not open, and a crypto-shred of the tenant makes them
unreadable. They are opened per request and never returned by the API.
"""

from __future__ import annotations

from core.crypto.keyring import Keyring
from core.crypto.secretbox import SecretBox

CHANNEL_SECRET_PURPOSE = "aiaas-channel-secret/v1"


class ChannelSecrets:
    def __init__(self, keyring: Keyring) -> None:
        self._box = SecretBox(keyring, purpose=CHANNEL_SECRET_PURPOSE)

    async def seal(self, tenant_id: str, channel_id: str, field: str, secret: str) -> bytes:
        return await self._box.seal(tenant_id, f"{channel_id}:{field}", secret)

    async def open(self, tenant_id: str, channel_id: str, field: str, sealed: bytes) -> str:
        """The clear secret; `SecretUnavailable` when it does not open."""
        return await self._box.open(tenant_id, f"{channel_id}:{field}", sealed)
