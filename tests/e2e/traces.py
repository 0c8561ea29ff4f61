"""Looking for values everywhere the platform keeps data: every row of every table, every Redis key.

Postgres is read as the owner (no row-level security) and each row as a whole (`row::text`), so a new table
or column is searched without anyone listing it; byte columns are searched in their hex form as well. Redis
is read key by key whatever the type (strings, streams, hashes, lists, sets, sorted sets).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from redis import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import Settings
from db.database import to_async_url

_TABLES = text(
    """
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
    ORDER BY 1
    """
)


def postgres_hits(settings: Settings, values: list[str]) -> dict[str, dict[str, int]]:
    """For each value found anywhere in Postgres: the tables holding it and in how many rows."""

    async def scan() -> dict[str, dict[str, int]]:
        engine = create_async_engine(to_async_url(settings.database_url or ""))
        hits: dict[str, dict[str, int]] = defaultdict(dict)
        try:
            async with engine.connect() as conn:
                tables = [r.name for r in await conn.execute(_TABLES)]
                for table in tables:
                    # The table name comes from the catalog, quoted by quote_ident.
                    counts = await conn.execute(
                        text(
                            f"SELECT v.value, count(*) FROM unnest(CAST(:values AS text[])) AS v(value) "  # noqa: S608
                            f"JOIN {table} AS t ON strpos(t::text, v.value) > 0 "
                            "OR strpos(t::text, encode(convert_to(v.value, 'UTF8'), 'hex')) > 0 GROUP BY v.value"
                        ),
                        {"values": values},
                    )
                    for value, count in counts:
                        hits[value][table] = int(count)
        finally:
            await engine.dispose()
        return dict(hits)

    return asyncio.run(scan())


def _dump(client: Redis, key: bytes) -> bytes:
    kind = client.type(key)
    parts: list[bytes] = [key]
    if kind == b"string":
        parts.append(client.get(key) or b"")
    elif kind == b"stream":
        for _id, fields in client.xrange(key):
            parts.extend(b"%s=%s" % (k, v) for k, v in fields.items())
    elif kind == b"hash":
        parts.extend(b"%s=%s" % (k, v) for k, v in client.hgetall(key).items())
    elif kind == b"list":
        parts.extend(client.lrange(key, 0, -1))
    elif kind == b"set":
        parts.extend(client.smembers(key))
    elif kind == b"zset":
        parts.extend(client.zrange(key, 0, -1))
    return b"\n".join(parts)


def redis_hits(settings: Settings, values: list[str]) -> dict[str, list[str]]:
    """For each value found anywhere in Redis: the keys holding it."""
    client = Redis.from_url(settings.redis_url or "")
    hits: dict[str, list[str]] = defaultdict(list)
    try:
        for key in client.scan_iter(count=1000):
            blob = _dump(client, key)
            for value in values:
                if value.encode() in blob:
                    hits[value].append(key.decode(errors="replace"))
    finally:
        client.close()
    return dict(hits)
