"""A streaming standby of the session's Postgres: it follows the primary's writes read-only, and once promoted
takes writes of its own (the primary is left running; `python -m benchmarks standby` crashes one)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import pytest

from core.dr.standby import promote, replay_lag_bytes, start_standby
from core.settings import Settings
from core.stack.postgres import asyncpg_dsn


async def test_a_standby_streams_then_promotes(migrated: Settings) -> None:
    primary_url = asyncpg_dsn(migrated.database_url or "")
    password = unquote(urlsplit(primary_url).password or "")
    # Not under pytest's tmp root: every pytest session on the machine sets it back to 0700, and the Postgres
    # user must traverse the path whenever one of its tools starts.
    with tempfile.TemporaryDirectory(prefix="aiaas-standby-test-") as root:
        await _drill(primary_url, password, Path(root))


async def _drill(primary_url: str, password: str, root: Path) -> None:
    standby = await start_standby(primary_url, password, root / "standby")
    try:
        standby_url = standby.url(password)
        table = f"standby_probe_{uuid.uuid4().hex[:8]}"
        primary = await asyncpg.connect(primary_url)
        try:
            await primary.execute(f"CREATE TABLE {table} (n int)")
            await primary.execute(f"INSERT INTO {table} VALUES (1)")  # noqa: S608
            async with asyncio.timeout(30):
                while await replay_lag_bytes(primary_url, standby_url) > 0:
                    await asyncio.sleep(0.05)
            follower = await asyncpg.connect(standby_url)
            try:
                assert await follower.fetchval(f"SELECT count(*) FROM {table}") == 1  # noqa: S608
                with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                    await follower.execute(f"INSERT INTO {table} VALUES (2)")  # noqa: S608
            finally:
                await follower.close()
            assert await promote(standby_url) >= 0
            promoted = await asyncpg.connect(standby_url)
            try:
                assert not await promoted.fetchval("SELECT pg_is_in_recovery()")
                await promoted.execute(f"INSERT INTO {table} VALUES (2)")  # noqa: S608
                assert await promoted.fetchval(f"SELECT count(*) FROM {table}") == 2  # noqa: S608
            finally:
                await promoted.close()
        finally:
            await primary.execute(f"DROP TABLE IF EXISTS {table}")
            await primary.close()
    finally:
        standby.stop()
