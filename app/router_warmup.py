"""The static embedding's table, loaded (or first built) when a worker starts, in the background.

A router that reads the static embedding (`aiaas router train --embeddings`) needs the 23 MB token table in
memory; its first build takes tens of seconds, which must not land inside a local activity. The worker starts
loading it when `AIAAS_ROUTER_EMBEDDING_WARMUP` is on, when the global router reads the embedding, or when a
stored tenant router reads it (read through the owner's connection; where that cannot see the tenants' rows,
the first such decision starts the load). A table merely in the cache is left there: in memory it costs every
worker 47 MB whether or not a router reads it.
Until it is ready those decisions fall back (`RoutingActivities.classifier`).
"""

from __future__ import annotations

import json
import os

import structlog
from sqlalchemy.exc import SQLAlchemyError

from core.settings import Settings
from db.database import Database, run_sql
from router.static_embedding import EMBEDDING_NAMES, StaticEmbedder

log = structlog.get_logger("aiaas.worker")


def warmup_forced() -> bool:
    return os.environ.get("AIAAS_ROUTER_EMBEDDING_WARMUP", "").strip().lower() in ("1", "true", "yes", "on")


async def stored_routers_read_embedding(settings: Settings) -> bool:
    """Whether any tenant's stored router reads the embedding (false when the owner's database is not known
    or refuses)."""
    if not settings.database_url:
        return False
    db = Database(settings.database_url, pool_size=1)
    try:
        async with db.admin_session() as session:
            found = await run_sql(
                session,
                "SELECT EXISTS (SELECT 1 FROM tenant_routers WHERE (artefact -> 'names') @> CAST(:emb AS jsonb))",
                {"emb": json.dumps([EMBEDDING_NAMES[0]])},
            )
            return bool(found.scalar())
    except (SQLAlchemyError, OSError) as exc:
        log.warning("cannot tell whether stored routers read the static embedding", error=str(exc))
        return False
    finally:
        await db.close()


async def warm_router_embedding(settings: Settings, embedder: StaticEmbedder, *, global_reads: bool) -> str | None:
    """Start the table's background load when some router will read it; why it started, or None."""
    if warmup_forced():
        why = "setting"
    elif global_reads:
        why = "global_router"
    elif await stored_routers_read_embedding(settings):
        why = "tenant_router"
    else:
        return None
    embedder.warm()
    log.info("loading the static embedding table", reason=why, path=str(embedder.table_path()))
    return why
