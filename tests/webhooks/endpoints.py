"""Registering an endpoint as the API does: a secret issued and sealed for a fresh id, then the row."""

from __future__ import annotations

from core.crypto.keyring import Keyring
from db.database import Database
from db.ids import new_id
from webhooks import management, store
from webhooks.secrets import EndpointSecrets


async def make_endpoint(
    db: Database, keyring: Keyring, tenant_id: str, url: str, types: list[str] | None = None
) -> tuple[store.Endpoint, str]:
    """A new endpoint and its secret in clear, as the API shows it once."""
    endpoint_id = new_id()
    secret, sealed = await EndpointSecrets(keyring).issue(tenant_id, endpoint_id)
    async with db.tenant_session(tenant_id) as session:
        endpoint = await management.create_endpoint(
            session,
            tenant_id,
            endpoint_id=endpoint_id,
            sealed_secret=sealed,
            url=url,
            description="test",
            event_types=types or [],
        )
    return endpoint, secret
