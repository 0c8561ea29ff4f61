"""Fixtures for the encryption tests: a database of their own, a throwaway KMS per test, keyrings and codecs.

The unit tests get a database of their own because the platform key (`_platform`) is one row per database:
wrapped by one test's throwaway KMS it would be unreadable to the platform processes of the end-to-end
tests, which share the suite's database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from temporalio.converter import WorkflowSerializationContext

from core.crypto import Keyring, LocalFileKms, PostgresKeyStore, TenantPayloadCodec, kms_keys_path
from core.settings import Settings
from db.database import Database
from db.migrate import migrate
from tests.e2e.platform import Platform
from tests.tenancy.conftest import app_url_for, autocommit


@pytest.fixture(scope="session")
def crypto_admin_url(settings: Settings) -> Iterator[str]:
    admin = settings.database_url or ""
    name = f"aiaas_crypto_{uuid.uuid4().hex[:8]}"
    asyncio.run(autocommit(admin, f"CREATE DATABASE {name}"))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(migrate(url, settings.app_db_password.get_secret_value()))
        yield url
    finally:
        asyncio.run(autocommit(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def crypto_settings(settings: Settings, crypto_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on the crypto database, with a KMS file no other test uses."""
    return settings.model_copy(
        update={
            "database_url": crypto_admin_url,
            "app_database_url": app_url_for(crypto_admin_url, settings.app_db_password.get_secret_value()),
            "kms_keys_file": tmp_path_factory.mktemp("kms") / "keys.json",
        }
    )


@pytest.fixture
async def app_db(crypto_settings: Settings) -> AsyncIterator[Database]:
    db = Database(crypto_settings.resolved_app_database_url(), pool_size=2)
    yield db
    await db.close()


@pytest.fixture
async def admin_db(crypto_admin_url: str) -> AsyncIterator[Database]:
    db = Database(crypto_admin_url, pool_size=1)
    yield db
    await db.close()


@pytest.fixture
def kms(crypto_settings: Settings) -> LocalFileKms:
    # One KMS file for the crypto database: every data key in it, the platform's above all, was wrapped there.
    return LocalFileKms(kms_keys_path(crypto_settings))


@pytest.fixture
def keyring(app_db: Database, kms: LocalFileKms) -> Keyring:
    return Keyring(PostgresKeyStore(app_db), kms)


@pytest.fixture
def codec(keyring: Keyring) -> TenantPayloadCodec:
    return TenantPayloadCodec(keyring)


def new_tenant() -> str:
    return str(uuid.uuid4())


def for_workflow(codec: TenantPayloadCodec, workflow_id: str) -> TenantPayloadCodec:
    """The codec as the SDK binds it for a workflow's payloads."""
    return codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id))


def for_tenant(codec: TenantPayloadCodec, tenant_id: str) -> TenantPayloadCodec:
    return for_workflow(codec, f"{tenant_id}:conv:{uuid.uuid4()}")


def platform_settings(running: Platform) -> Settings:
    """The settings the platform's gateway and worker processes run with, as far as encryption goes."""
    env = running.env
    update: dict[str, object] = {"data_dir": Path(env.get("AIAAS_DATA_DIR", running.settings.data_dir))}
    if env.get("AIAAS_KMS_KEYS_FILE"):
        update["kms_keys_file"] = Path(env["AIAAS_KMS_KEYS_FILE"])
    return running.settings.model_copy(update=update)


def operator_token(running: Platform, role: str = "platform_operator") -> str:
    """A dev JWT the platform's gateway accepts, minted as an operator would: with `aiaas admin token`."""
    import subprocess
    import sys

    env = {**running.env, "AIAAS_ENV": "dev"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "admin", "token", "--platform-role", role],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()
