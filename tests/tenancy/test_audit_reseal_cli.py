"""`aiaas audit reseal` as an operator runs it, against the session's database: batches per tenant, one JSON line
each, the chain green afterwards with its re-anchors signed by the tenant's key and audited as `cli:<user>`;
a second run reseals nothing; a bad batch size is refused before anything runs."""

from __future__ import annotations

import asyncio
import getpass
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from core.settings import Settings, get_settings
from db.database import Database
from tenancy.audit_read import list_events, verify_chain
from tenancy.tenants import create_tenant
from tests.tenancy.test_audit_reseal import raw, write_old_events

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def cli_env(migrated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The database and key files in the environment, as `aiaas up` leaves them for an operator's shell."""
    monkeypatch.setenv("DATABASE_URL", migrated.database_url or "")
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path))
    if migrated.kms_keys_file is not None:
        monkeypatch.setenv("AIAAS_KMS_KEYS_FILE", str(migrated.kms_keys_file))
    get_settings.cache_clear()
    yield migrated
    get_settings.cache_clear()


async def _prepare(settings: Settings) -> str:
    created = await create_tenant(
        settings.database_url or "",
        name=f"Reseal {uuid.uuid4().hex[:8]}",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    db = Database(settings.resolved_app_database_url(), pool_size=2)
    try:
        await write_old_events(db, created.tenant_id, "orchid-cli")
        await write_old_events(db, created.tenant_id, "orchid-cli2")
    finally:
        await db.close()
    return created.tenant_id


async def _state(settings: Settings, tenant: str) -> tuple[bool, int, list[str], str]:
    db = Database(settings.resolved_app_database_url(), pool_size=2)
    try:
        async with db.tenant_session(tenant) as session:
            result = await verify_chain(session, tenant)
            actors = [e.actor for e in await list_events(session, tenant, action="audit.reanchored")]
        return result.ok, len(result.reanchored), actors, await raw(db, tenant)
    finally:
        await db.close()


def test_reseal_runs_in_batches_and_a_second_run_changes_nothing(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = asyncio.run(_prepare(cli_env))
    assert main(["audit", "reseal", "--tenant", tenant, "--batch-size", "3"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    answer = json.loads(line)
    assert answer["tenant_id"] == tenant and answer["resealed"] == 4
    assert [(r["first_seq"], r["last_seq"]) for r in answer["reanchors"]] == [(2, 8), (8, 9)]
    ok, reanchors, actors, stored = asyncio.run(_state(cli_env, tenant))
    assert ok and reanchors == 2 and set(actors) == {f"cli:{getpass.getuser()}"} and "orchid" not in stored

    assert main(["audit", "reseal", "--tenant", tenant]) == 0
    assert json.loads(capsys.readouterr().out) == {"tenant_id": tenant, "resealed": 0, "reanchors": []}
    assert asyncio.run(_state(cli_env, tenant))[:2] == (True, 2)


def test_a_batch_size_out_of_range_is_refused(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "reseal", "--batch-size", "0"]) != 0
    assert "--batch-size must be 1 to 5000" in capsys.readouterr().err
