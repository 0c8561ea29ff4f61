"""The console's agent page with drafts, against a real gateway: "save as a draft" keeps conversations on the
current version, the draft is shown, edited from itself and activated; a viewer may do none of it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.console_client import Console, signed_in
from tests.e2e.platform import Platform


@pytest.fixture(scope="module")
def tenant(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "Console drafts")


@pytest.fixture
def owner(console_gateway: ConsoleGateway, tenant: tuple[str, str]) -> Iterator[Console]:
    with signed_in(console_gateway.url, tenant[1]) as console:
        yield console


def _api(gateway: ConsoleGateway, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _shown(page: str) -> tuple[str, str, str]:
    found = re.search(r'data-version="(\d+)" data-current="(\d+)" data-draft="(yes|no)"', page)
    assert found, "no version line on the agent page"
    return found.group(1), found.group(2), found.group(3)


def test_save_a_draft_edit_it_and_activate_it(
    console_gateway: ConsoleGateway, tenant: tuple[str, str], owner: Console
) -> None:
    api = _api(console_gateway, tenant[1])
    drafted = owner.post(
        "/console/agents/support", {"system_prompt": "Trial prompt.", "description": "trial", "draft": "true"}
    )
    assert drafted.status_code == 303 and drafted.headers["location"].endswith("/agents/support?version=1")
    assert api.get("/v1/agents/support").json()["version"] == 0  # conversations keep the shipped default
    page = owner.get("/console/agents/support", params={"version": 1})
    assert _shown(page.text) == ("1", "0", "yes")
    assert 'name="base" value="1"' in page.text and 'id="agent-draft" value="true" checked' in page.text
    assert "(draft)" in owner.get("/console/agents/support").text

    # Edited from the draft page: a new draft built on the draft, whose prompt it keeps when left empty.
    again = owner.post(
        "/console/agents/support", {"system_prompt": "", "description": "trial 2", "draft": "true", "base": "1"}
    )
    assert again.status_code == 303, again.text
    second = api.get("/v1/agents/support", params={"version": 2}).json()
    assert (second["draft"], second["system_prompt"], second["description"]) == (True, "Trial prompt.", "trial 2")

    listed = owner.get("/console/agents/support")
    assert listed.text.count("Activate this draft") == 2
    activated = owner.post("/console/agents/support/versions/2/restore")
    assert activated.status_code == 303, activated.text
    live = api.get("/v1/agents/support").json()
    assert (live["version"], live["system_prompt"], live["draft"]) == (3, "Trial prompt.", False)
    assert _shown(owner.get("/console/agents/support").text) == ("3", "3", "no")

    bad = owner.post("/console/agents/support", {"system_prompt": "x", "draft": "maybe"})
    assert bad.status_code == 422
    missing = owner.post("/console/agents/support", {"system_prompt": "x", "base": "9"})
    assert missing.status_code == 404
    assert api.get("/v1/agents/support/versions").json()["items"][0]["version"] == 3
