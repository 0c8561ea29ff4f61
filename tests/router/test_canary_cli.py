"""`aiaas router canary`: start, list and show a tenant's canary from the command line, refused cleanly when
the tenant already runs one, for a model outside its region, or for another tenant's canary id."""

from __future__ import annotations

import json
import uuid

import pytest

from app.cli import main
from core.settings import Settings
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import platform_env


def test_the_cli_starts_lists_and_shows_a_canary(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No worker polls this queue: the canary's workflow is started and waits, which is all the CLI does.
    settings = migrated.model_copy(update={"task_queue": f"canary-cli-{uuid.uuid4().hex[:8]}"})
    for name, value in platform_env(settings, settings.data_dir).items():
        monkeypatch.setenv(name, value)
    tenant, _ = create_test_tenant(migrated, "Canary CLI")
    other, _ = create_test_tenant(migrated, "Canary CLI other")
    start = ["router", "canary", "start", "--tenant", tenant, "--model", "scripted/agent", "--share", "0.1"]

    assert main(start) == 0
    started = json.loads(capsys.readouterr().out)
    assert started["status"] == "running" and started["tier"] == "small" and started["share"] == 0.1
    assert main(["router", "canary", "list", "--tenant", tenant]) == 0
    assert [c["id"] for c in json.loads(capsys.readouterr().out)] == [started["id"]]
    assert main(["router", "canary", "show", "--tenant", tenant, started["id"]]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "scripted/agent"

    assert main(start) == 1
    assert "already running" in capsys.readouterr().err
    assert main([*start[:5], "--model", "gpt-4o", "--share", "0.1"]) == 1
    assert "gpt-4o" in capsys.readouterr().err
    assert main([*start[:6], "scripted/agent", "--share", "1.5"]) == 1
    assert "share" in capsys.readouterr().err
    assert main(["router", "canary", "show", "--tenant", other, started["id"]]) == 1
    assert f"no canary {started['id']}" in capsys.readouterr().err


def test_the_cli_starts_an_agent_version_or_threshold_canary_and_refuses_bad_subjects(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = migrated.model_copy(update={"task_queue": f"canary-cli-{uuid.uuid4().hex[:8]}"})
    for name, value in platform_env(settings, settings.data_dir).items():
        monkeypatch.setenv(name, value)
    tenant, _ = create_test_tenant(migrated, "Canary CLI agent")
    other, _ = create_test_tenant(migrated, "Canary CLI threshold")
    start = ["router", "canary", "start", "--tenant", tenant, "--share", "0.2"]

    # The tenant never saved `support`: its active version is the shipped default (0), and it has no version 1.
    assert main([*start, "--agent", "support", "--agent-version", "0"]) == 1
    assert "already the agent's active version" in capsys.readouterr().err
    assert main([*start, "--agent", "support", "--agent-version", "1"]) == 1
    assert "no agent 'support' version 1" in capsys.readouterr().err
    assert main([*start, "--agent", "support"]) == 1
    assert "--agent-version" in capsys.readouterr().err
    assert main([*start, "--threshold", "1.5"]) == 1
    assert "threshold" in capsys.readouterr().err

    assert main(["router", "canary", "start", "--tenant", other, "--share", "0.2", "--threshold", "0.4"]) == 0
    started = json.loads(capsys.readouterr().out)
    assert started["subject"] == {"kind": "router_threshold", "threshold": 0.4} and started["model"] == ""
    assert main(["router", "canary", "show", "--tenant", tenant, started["id"]]) == 1  # another tenant's
    assert f"no canary {started['id']}" in capsys.readouterr().err
