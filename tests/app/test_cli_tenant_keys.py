"""`aiaas tenant list` and `aiaas keys list|create|revoke` on the session's database, and the keys they issue
and revoke as the platform's gateway sees them."""

from __future__ import annotations

import getpass
import json
import time

import httpx
import pytest

from core.settings import Settings
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform

from .conftest import run


@pytest.fixture
def tenant(cli_env: Settings) -> tuple[str, str]:
    return create_test_tenant(cli_env, "Cli Keys")


def test_tenant_list_shows_each_tenant(tenant: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    tenant_id, _ = tenant
    code, out, _ = run(capsys, "tenant", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["id", "name", "plan", "status"]
    row = next(line for line in lines if line.startswith(tenant_id))
    assert row.split()[-2:] == ["pro", "active"] and "Cli Keys" in row

    code, out, _ = run(capsys, "tenant", "list", "--json", "--status", "active")
    listed = {t["id"]: t for t in json.loads(out)}
    assert listed[tenant_id]["plan"] == "pro" and listed[tenant_id]["status"] == "active"
    assert run(capsys, "tenant", "list", "--status", "gone") == (
        2,
        "",
        "aiaas tenant list: status must be one of active, suspended, offboarding\n",
    )


def test_a_key_made_here_works_at_the_gateway_until_revoked_here(
    platform: Platform, tenant: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    tenant_id, owner_key = tenant
    code, out, _ = run(capsys, "keys", "create", "--tenant", tenant_id, "--name", "ci", "--role", "viewer")
    assert code == 0
    key_line, shown = out.splitlines()[1], out.splitlines()[1].split()[1]
    assert key_line.endswith("(shown once; only its hash is stored)")
    key_id = out.splitlines()[0].split()[1]
    with httpx.Client(base_url=platform.base_url, timeout=30) as gateway:
        as_new_key = {"Authorization": f"Bearer {shown}"}
        assert gateway.get("/v1/agents", headers=as_new_key).status_code == 200

        code, out, _ = run(capsys, "keys", "list", "--tenant", tenant_id)
        assert code == 0 and shown not in out
        row = next(line for line in out.splitlines() if line.startswith(key_id)).split()
        assert row[1:] == ["ci", shown.split("_")[1], "viewer", "active"]

        assert run(capsys, "keys", "revoke", "--tenant", tenant_id, key_id) == (0, f"revoked key {key_id}\n", "")
        deadline = time.monotonic() + 5
        while gateway.get("/v1/agents", headers=as_new_key).status_code != 401:
            assert time.monotonic() < deadline, "the gateway still takes the revoked key"
            time.sleep(0.2)
        # The audit log names who did it, as for a change made through the API.
        audit = gateway.get("/v1/audit", headers={"Authorization": f"Bearer {owner_key}"}).json()["items"]
        actions = {(e["action"], e["actor"]) for e in audit if e["target"] == key_id}
        assert actions == {
            ("api_key.created", f"cli:{getpass.getuser()}"),
            ("api_key.revoked", f"cli:{getpass.getuser()}"),
        }

    assert run(capsys, "keys", "revoke", "--tenant", tenant_id, key_id)[1] == f"key {key_id} was already revoked\n"
    code, out, _ = run(capsys, "keys", "list", "--tenant", tenant_id, "--all", "--json")
    assert {k["id"]: k["revoked_at"] is not None for k in json.loads(out)}[key_id] is True


def test_a_new_key_in_json_carries_its_secret_once(tenant: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    tenant_id, _ = tenant
    code, out, _ = run(capsys, "keys", "create", "--tenant", tenant_id, "--name", "deploy", "--json")
    created = json.loads(out)
    assert code == 0 and created["role"] == "developer" and created["api_key"].startswith("ak_")
    _, listed, _ = run(capsys, "keys", "list", "--tenant", tenant_id, "--json")
    assert created["api_key"] not in listed and created["id"] in listed


@pytest.mark.parametrize(
    ("argv", "code", "error"),
    [
        (["keys", "list", "--tenant", "no-such-tenant"], 1, "aiaas: no tenant with id no-such-tenant"),
        (["keys", "revoke", "--tenant", "{tenant}", "no-such-key"], 1, "aiaas: tenant {tenant} has no key with id"),
        (["keys", "create", "--tenant", "{tenant}", "--name", "x", "--role", "god"], 2, "aiaas keys create: role"),
        (["keys", "create", "--tenant", "{tenant}", "--name", "x", "--scope", "all"], 2, "aiaas keys create: unknown"),
        (["keys", "create", "--tenant", "{tenant}", "--name", "x", "--expires-at", "soon"], 2, "aiaas keys create:"),
    ],
)
def test_bad_input_is_one_line(
    tenant: tuple[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], code: int, error: str
) -> None:
    tenant_id, _ = tenant
    got, out, err = run(capsys, *(word.format(tenant=tenant_id) for word in argv))
    assert (got, out) == (code, "")
    assert err.startswith(error.format(tenant=tenant_id)) and err.count("\n") == 1
