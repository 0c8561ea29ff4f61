"""A tenant's own routers in Postgres (`tenant_routers`): fitted on its eval results, versioned by content.

The newest one routes the tenant's turns; a tenant without one uses the shipped global router. Artefacts
are a few kilobytes of JSON, so they live in the row; a worker keeps the ones it has loaded by version (a
version names its content, so a cached one can never be stale).
"""

from __future__ import annotations

import json

from db.database import Database, run_sql
from router.classifier import PassClassifier
from router.static_embedding import EMBEDDING_NAMES


async def store(db: Database, tenant_id: str, classifier: PassClassifier) -> str:
    """Store (again: a refit to the same content is the same version, made newest) and return the version."""
    body = classifier.to_json()
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            """
            INSERT INTO tenant_routers (tenant_id, version, artefact, ece, created_at)
            VALUES (:t, :v, CAST(:a AS jsonb), :ece, clock_timestamp())
            ON CONFLICT (tenant_id, version) DO UPDATE SET created_at = clock_timestamp()
            """,
            {"t": tenant_id, "v": body["version"], "a": json.dumps(body), "ece": classifier.ece},
        )
    return str(body["version"])


async def load(db: Database, tenant_id: str, version: str) -> PassClassifier:
    async with db.tenant_session(tenant_id) as session:
        row = (
            await run_sql(
                session,
                "SELECT artefact FROM tenant_routers WHERE tenant_id = :t AND version = :v",
                {"t": tenant_id, "v": version},
            )
        ).first()
    if row is None:
        raise LookupError(f"tenant {tenant_id} has no router {version}")
    artefact = row.artefact if isinstance(row.artefact, dict) else json.loads(row.artefact)
    return PassClassifier.from_json(artefact)


class RouterCache:
    """Loaded routers by version, for one worker; the global router for tenants without their own."""

    def __init__(self, db: Database, global_router: PassClassifier) -> None:
        self._db = db
        self.global_router = global_router
        self._loaded: dict[str, PassClassifier] = {}
        self._shipped: PassClassifier | None = None

    async def for_tenant(self, tenant_id: str, version: str | None) -> PassClassifier:
        if not version:
            return self.global_router
        if version not in self._loaded:
            self._loaded[version] = await load(self._db, tenant_id, version)
        return self._loaded[version]

    async def without_embedding(self, tenant_id: str) -> PassClassifier:
        """The router that decides while the static embedding's table is not ready: the tenant's newest router
        that does not read it, else the global router, else (the global one reads it too) the shipped one."""
        async with self._db.tenant_session(tenant_id) as session:
            version = (
                await run_sql(
                    session,
                    "SELECT version FROM tenant_routers WHERE tenant_id = :t"
                    " AND NOT (artefact -> 'names') @> CAST(:emb AS jsonb) ORDER BY created_at DESC LIMIT 1",
                    {"t": tenant_id, "emb": json.dumps([EMBEDDING_NAMES[0]])},
                )
            ).scalar()
        if version:
            return await self.for_tenant(tenant_id, str(version))
        if not self.global_router.reads_embedding:
            return self.global_router
        if self._shipped is None:
            self._shipped = PassClassifier.load(None)
        return self._shipped
