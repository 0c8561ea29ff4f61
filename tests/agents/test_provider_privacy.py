"""The provider boundary with real Postgres and Redis: 1,000 known values through model calls of the scripted
models; the provider reads none of them, the customer's answer, its token events and the tools get them back.

The scripted echo model answers with the text it received, so what it echoes is exactly what left the platform.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.model_call import ModelActivities
from agents.models.scripted import ScriptedLLM
from contracts.conversation import ModelCallInput
from core.events import EventBus
from core.logging import redact_processor
from core.pii import ALL, Entity
from core.settings import Settings
from db.database import Database
from policies.privacy import PrivacyPolicy, ProviderMode, save_policy
from tests.core.pii.values import known_values

from .conftest import AGENT_TOOLS
from .test_model_activity import _turn

VALUES = known_values(1000)
PER_MESSAGE = 25


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    """Every message list the scripted provider receives."""
    received: list[list[dict[str, Any]]] = []
    original = ScriptedLLM._stream

    def recording(self: ScriptedLLM, model: str, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> Any:
        received.append(json.loads(json.dumps(messages, default=str)))
        return original(self, model, messages, kwargs)

    monkeypatch.setattr(ScriptedLLM, "_stream", recording)
    return received


def _input(tenant: str, conversation_id: str, message_id: str, tools: list[str] | None = None) -> ModelCallInput:
    return ModelCallInput(
        tenant_id=tenant,
        conversation_id=conversation_id,
        message_id=message_id,
        agent="support",
        tools=tools or [],
    )


def _activities(db: Database, bus: EventBus, migrated: Settings, model: str) -> ModelActivities:
    settings = migrated.model_copy(update={"model_small": model, "agent_models": ""})
    return ModelActivities(db, bus, settings, registry=AGENT_TOOLS)


async def test_a_thousand_values_never_reach_the_provider_and_all_come_back(
    db: Database, bus: EventBus, migrated: Settings, tenant: str, sent: list[list[dict[str, Any]]]
) -> None:
    activities = _activities(db, bus, migrated, "scripted/echo")
    env = ActivityEnvironment()
    for start in range(0, len(VALUES), PER_MESSAGE):
        batch = [value for _kind, value in VALUES[start : start + PER_MESSAGE]]
        text = "Please note: " + "; ".join(batch) + "."
        conversation_id, message_id = await _turn(db, tenant, text)
        result = await env.run(activities.complete, _input(tenant, conversation_id, message_id))
        # The customer reads the answer with their own values in it, whole, in the result and in the stream.
        assert result.content == f"echo: {text}"
        tokens = [e.data["delta"] for e in await bus.history(tenant, conversation_id) if e.type == "token"]
        assert "".join(tokens) == result.content
    wire = json.dumps(sent)
    assert len(sent) == len(VALUES) // PER_MESSAGE
    leaked = [value for _kind, value in VALUES if value in wire]
    assert leaked == []
    assert wire.count("<EMAIL_") >= len(VALUES) // 6 and "<IBAN_1>" in wire and "<NATIONAL_ID_1>" in wire


async def test_tool_arguments_written_with_tags_reach_the_tool_as_values(
    db: Database, bus: EventBus, migrated: Settings, tenant: str, sent: list[list[dict[str, Any]]]
) -> None:
    email = "ada.lovelace@example.com"
    plan = [{"tool": "orders.lookup", "args": {"order_id": email}}]
    conversation_id, message_id = await _turn(db, tenant, f"find it PLAN: {json.dumps(plan)}")
    activities = _activities(db, bus, migrated, "scripted/agent")
    inp = _input(tenant, conversation_id, message_id, ["tools.orders.lookup.v1"])
    result = await ActivityEnvironment().run(activities.complete, inp)
    assert [call.arguments for call in result.tool_calls] == [{"order_id": email}]
    assert email not in json.dumps(sent) and "<EMAIL_1>" in json.dumps(sent)


@pytest.mark.parametrize(
    ("policy", "provider_reads", "customer_reads"),
    [
        (PrivacyPolicy(ProviderMode.REDACT), "echo: mail [email], call [phone]", "echo: mail [email], call [phone]"),
        (PrivacyPolicy(ProviderMode.OFF), "echo: mail a.b@example.com, call +1 415 555 0100", None),
        (
            PrivacyPolicy(ProviderMode.PSEUDONYMISE, ALL - {Entity.PHONE}),
            "echo: mail <EMAIL_1>, call +1 415 555 0100",
            None,
        ),
    ],
)
async def test_each_tenant_chooses_its_boundary(
    db: Database,
    bus: EventBus,
    migrated: Settings,
    tenant: str,
    other_tenant: str,
    sent: list[list[dict[str, Any]]],
    policy: PrivacyPolicy,
    provider_reads: str,
    customer_reads: str | None,
) -> None:
    text = "mail a.b@example.com, call +1 415 555 0100"
    async with db.tenant_session(tenant) as session:
        await save_policy(session, tenant, policy)
    activities = _activities(db, bus, migrated, "scripted/echo")
    env = ActivityEnvironment()
    conversation_id, message_id = await _turn(db, tenant, text)
    result = await env.run(activities.complete, _input(tenant, conversation_id, message_id))
    assert "echo: " + sent[-1][-1]["content"] == provider_reads
    assert result.content == (customer_reads or f"echo: {text}")
    # Another tenant keeps the default: pseudonyms out, values back.
    conversation_id, message_id = await _turn(db, other_tenant, text)
    result = await env.run(activities.complete, _input(other_tenant, conversation_id, message_id))
    assert sent[-1][-1]["content"] == "mail <EMAIL_1>, call <PHONE_1>" and result.content == f"echo: {text}"


def test_no_known_value_survives_the_log_processor() -> None:
    event = {
        "event": "customer wrote " + " ".join(value for _kind, value in VALUES),
        "details": {"values": [value for _kind, value in VALUES[:100]]},
        "level": "info",
    }
    line = json.dumps(redact_processor(None, "info", event))
    assert [value for _kind, value in VALUES if value in line] == []
