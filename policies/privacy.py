"""A tenant's privacy policy: what an external model provider may read, and which entities count.

`provider_mode` decides the provider boundary: `pseudonymise` (the default) sends `<EMAIL_1>`-style tags and
restores them in the answer, `redact` sends `[email]` and cannot restore, `off` sends the text as typed.
Local models (`local/...`) run inside the platform and are not a boundary. Policies are read on every model
call, so they are cached per process for a few seconds; a change reaches every worker within that time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from core.pii import ALL, Entity, PiiConfig, parse_entities
from db.database import Database, run_sql

_CACHE_SECONDS = 5.0
_INTERNAL_PROVIDERS = ("local/",)


class ProviderMode(StrEnum):
    OFF = "off"
    REDACT = "redact"
    PSEUDONYMISE = "pseudonymise"


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    provider_mode: ProviderMode = ProviderMode.PSEUDONYMISE
    provider_entities: frozenset[Entity] = ALL
    updated_at: datetime | None = None

    def provider_config(self) -> PiiConfig:
        return PiiConfig(entities=self.provider_entities)

    def outbound_config(self) -> PiiConfig:
        """What leaves the platform other than to a provider (exports, datasets): the same entities, unless
        the tenant turned its boundary off."""
        if self.provider_mode == ProviderMode.OFF:
            return PiiConfig(entities=frozenset())
        return self.provider_config()


def is_external(model: str) -> bool:
    return not model.startswith(_INTERNAL_PROVIDERS)


async def load_policy(session: AsyncSession, tenant_id: str) -> PrivacyPolicy:
    row = (
        await run_sql(
            session,
            "SELECT provider_mode, provider_entities, updated_at FROM privacy_policies WHERE tenant_id = :t",
            {"t": tenant_id},
        )
    ).first()
    if row is None:
        return PrivacyPolicy()
    entities = ALL if row.provider_entities is None else parse_entities(list(row.provider_entities))
    return PrivacyPolicy(ProviderMode(row.provider_mode), entities, row.updated_at)


async def save_policy(session: AsyncSession, tenant_id: str, policy: PrivacyPolicy) -> PrivacyPolicy:
    row = (
        await run_sql(
            session,
            """
            INSERT INTO privacy_policies (tenant_id, provider_mode, provider_entities) VALUES (:t, :m, :e)
            ON CONFLICT (tenant_id) DO UPDATE SET
                provider_mode = EXCLUDED.provider_mode, provider_entities = EXCLUDED.provider_entities,
                updated_at = now()
            RETURNING updated_at
            """,
            {"t": tenant_id, "m": policy.provider_mode.value, "e": sorted(e.value for e in policy.provider_entities)},
        )
    ).one()
    return PrivacyPolicy(policy.provider_mode, policy.provider_entities, row.updated_at)


class PrivacyPolicies:
    """Policies by tenant, read through a short per-process cache."""

    def __init__(self, db: Database, cache_seconds: float = _CACHE_SECONDS) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, PrivacyPolicy]] = {}

    async def get(self, tenant_id: str) -> PrivacyPolicy:
        now = time.monotonic()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        async with self._db.tenant_session(tenant_id) as session:
            policy = await load_policy(session, tenant_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant_id] = (now, policy)
        return policy
