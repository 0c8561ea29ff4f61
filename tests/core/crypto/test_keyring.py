"""Data keys in Postgres: created on first use, rotated, scoped by row-level security, cached for a bounded
time; and KEK rotation that leaves every stored data key usable."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from core.crypto import PLATFORM_TENANT, DataKeyNotFound, Keyring, LocalFileKms, PostgresKeyStore, WrappedKey
from core.crypto.store import StoredKey
from db.database import Database

from .conftest import new_tenant

_ROWS = text("SELECT tenant_id, version, kek_id, retired_at FROM tenant_data_keys ORDER BY version")


async def _rows(db: Database, tenant: str) -> list:
    async with db.tenant_session(tenant) as session:
        return list((await (await session.connection()).execute(_ROWS)).all())


async def test_first_use_creates_version_one_once(keyring: Keyring, app_db: Database) -> None:
    tenant = new_tenant()
    first = await keyring.active(tenant)
    assert (first.tenant_id, first.version) == (tenant, 1)
    assert await keyring.active(tenant) is first
    rows = await _rows(app_db, tenant)
    assert [(r.tenant_id, r.version, r.retired_at) for r in rows] == [(tenant, 1, None)]


async def test_two_processes_creating_the_first_key_agree_on_it(app_db: Database, kms: LocalFileKms) -> None:
    tenant = new_tenant()
    keyrings = [Keyring(PostgresKeyStore(app_db), kms) for _ in range(4)]
    keys = await asyncio.gather(*(k.active(tenant) for k in keyrings))
    assert {k.version for k in keys} == {1}
    nonce = b"\x00" * 12
    sealed = keys[0].aead.encrypt(nonce, b"same key?", None)
    assert all(k.aead.decrypt(nonce, sealed, None) == b"same key?" for k in keys)
    assert len(await _rows(app_db, tenant)) == 1


async def test_rotation_activates_a_new_version_and_keeps_the_old(keyring: Keyring, app_db: Database) -> None:
    tenant = new_tenant()
    v1 = await keyring.active(tenant)
    v2 = await keyring.rotate(tenant)
    assert v2.version == 2
    assert await keyring.active(tenant) is v2
    assert (await keyring.get(tenant, 1)).version == 1
    rows = await _rows(app_db, tenant)
    assert [r.version for r in rows] == [1, 2]
    assert rows[0].retired_at is not None and rows[1].retired_at is None
    assert v1.aead is not v2.aead


async def test_other_processes_pick_up_a_rotation_after_their_cache_ttl(app_db: Database, kms: LocalFileKms) -> None:
    now = [0.0]
    tenant = new_tenant()
    cached = Keyring(PostgresKeyStore(app_db), kms, ttl_seconds=60, clock=lambda: now[0])
    assert (await cached.active(tenant)).version == 1
    await Keyring(PostgresKeyStore(app_db), kms).rotate(tenant)
    assert (await cached.active(tenant)).version == 1
    now[0] = 61.0
    assert (await cached.active(tenant)).version == 2


async def test_kek_rotation_keeps_old_data_keys_unwrappable(app_db: Database, kms: LocalFileKms) -> None:
    tenant = new_tenant()
    keyring = Keyring(PostgresKeyStore(app_db), kms)
    await keyring.active(tenant)
    old_kek = await kms.active_kek_id()
    new_kek = await kms.rotate()
    await keyring.rotate(tenant)
    rows = await _rows(app_db, tenant)
    assert [r.kek_id for r in rows] == [old_kek, new_kek]
    # A process starting now, cold cache: the old version opens under the retired KEK.
    cold = Keyring(PostgresKeyStore(app_db), LocalFileKms(kms.path))
    assert (await cold.get(tenant, 1)).version == 1
    assert (await cold.active(tenant)).version == 2


async def test_a_tenant_session_sees_only_its_own_keys(keyring: Keyring, app_db: Database) -> None:
    a, b = new_tenant(), new_tenant()
    await keyring.active(a)
    await keyring.active(PLATFORM_TENANT)
    assert await _rows(app_db, b) == []
    assert {r.tenant_id for r in await _rows(app_db, a)} == {a}
    assert {r.tenant_id for r in await _rows(app_db, PLATFORM_TENANT)} == {PLATFORM_TENANT}
    with pytest.raises(DataKeyNotFound):
        await Keyring(PostgresKeyStore(app_db), keyring.kms).get(b, 1)


async def test_a_session_cannot_write_keys_for_another_tenant(app_db: Database) -> None:
    a, b = new_tenant(), new_tenant()
    async with app_db.tenant_session(a) as session:
        with pytest.raises(Exception, match="row-level security"):
            await (await session.connection()).execute(
                text("INSERT INTO tenant_data_keys (tenant_id, version, kek_id, wrapped_key) VALUES (:t, 1, 'k', 'x')"),
                {"t": b},
            )


async def test_scopes_must_be_tenant_ids_or_the_platform(keyring: Keyring, admin_db: Database) -> None:
    with pytest.raises(ValueError):
        await keyring.active("not-a-tenant")
    with pytest.raises(ValueError):
        await keyring.active(new_tenant().upper())
    # The table holds the same rule, for writers that do not go through the keyring.
    async with admin_db.admin_session() as session:
        with pytest.raises(Exception, match="ck_tenant_data_keys_scope"):
            await (await session.connection()).execute(
                text("INSERT INTO tenant_data_keys (tenant_id, version, kek_id, wrapped_key) VALUES ('x', 1, 'k', 'x')")
            )


class _CountingStore(PostgresKeyStore):
    loads = 0

    async def active(self, tenant_id: str) -> StoredKey | None:
        self.loads += 1
        return await super().active(tenant_id)


async def test_a_cold_cache_under_load_reads_each_key_once(app_db: Database, kms: LocalFileKms) -> None:
    tenant = new_tenant()
    await Keyring(PostgresKeyStore(app_db), kms).active(tenant)
    store = _CountingStore(app_db)
    keyring = Keyring(store, kms)
    keys = await asyncio.gather(*(keyring.active(tenant) for _ in range(50)))
    assert store.loads == 1
    assert len({id(k) for k in keys}) == 1


async def test_unknown_versions_are_not_found(keyring: Keyring) -> None:
    tenant = new_tenant()
    await keyring.active(tenant)
    with pytest.raises(DataKeyNotFound):
        await keyring.get(tenant, 7)


async def test_stored_keys_are_only_ever_wrapped(keyring: Keyring, app_db: Database) -> None:
    tenant = new_tenant()
    key = await keyring.active(tenant)
    async with app_db.tenant_session(tenant) as session:
        wrapped = (
            await (await session.connection()).execute(
                text("SELECT kek_id, wrapped_key FROM tenant_data_keys WHERE version = 1")
            )
        ).one()
    raw = await keyring.kms.unwrap(WrappedKey(wrapped.kek_id, bytes(wrapped.wrapped_key)))
    assert raw not in bytes(wrapped.wrapped_key)
    nonce = b"\x01" * 12
    assert key.aead.decrypt(nonce, key.aead.encrypt(nonce, b"x", None), None) == b"x"
