"""The replay walk: the unchanged candidate agrees everywhere without touching the world, and planted changes
are reported at the step where they show, with the rest of the turn left uncompared."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from contracts.agents import ApprovalRule
from evals.replay.candidate import Candidate
from evals.replay.cli import load_conversations
from evals.replay.planted import register_planted
from evals.replay.recorded import Conversation
from evals.replay.runner import DIVERGED, NOT_COMPARED, SAME, replay_all, replay_conversation
from tests.evals.replay.conftest import HISTORIES


def _no_network(*_: Any, **__: Any) -> None:
    raise AssertionError("the replay reached for the network")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket may connect: no database, Redis, Temporal server, tool backend or model provider."""
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    register_planted()


async def test_the_recording_itself_agrees_at_every_step_offline(offline: None) -> None:
    conversations, others = await load_conversations([str(HISTORIES)])
    assert len(conversations) >= 20 and any("place_order" in o for o in others)
    for candidate in (Candidate(), Candidate(model="planted/agent")):
        verdicts = await replay_all(conversations, candidate)
        statuses = [s.status for v in verdicts for s in v.steps]
        assert DIVERGED not in statuses, [s for v in verdicts for s in v.steps if s.status == DIVERGED]
        assert statuses.count(SAME) >= 60


async def test_a_wrong_argument_diverges_at_its_step_and_ends_the_turns_comparison(
    offline: None, tool_turn: Conversation
) -> None:
    verdict = await replay_conversation(tool_turn, Candidate(model="planted/wrong-arg"))
    first, *rest = verdict.steps
    assert (first.status, first.kinds) == (DIVERGED, ["arguments"])
    change = first.details["arguments"]["calls"][0]
    assert change["tool"] == "agents.handoff" and change["changes"][0]["path"] == "/reason"
    assert [s.status for s in rest] == [NOT_COMPARED, NOT_COMPARED]


async def test_a_renamed_argument_is_caught_by_the_platforms_checks(offline: None, tool_turn: Conversation) -> None:
    recorded = tool_turn.turns[0].steps[1].resolved
    assert recorded is not None
    spec = recorded.tool("orders.lookup")
    assert spec is not None
    schema = {**spec.input_schema, "properties": {"id": {"type": "string"}}, "required": ["id"]}
    renamed = spec.model_copy(update={"input_schema": schema})
    verdict = await replay_conversation(tool_turn, Candidate(tools={"orders.lookup": renamed}))
    step = verdict.steps[1]
    assert (step.status, step.kinds) == (DIVERGED, ["gate"])
    assert step.details["gate"][0]["recorded"] == "run"
    assert step.details["gate"][0]["candidate"] == "refused:ToolInputInvalid"
    # A model that reads the schema sends the new name: then the decision itself differs.
    followed = await replay_conversation(tool_turn, Candidate(model="planted/agent", tools={"orders.lookup": renamed}))
    assert followed.steps[1].kinds == ["arguments"]


async def test_an_approval_threshold_and_a_router_threshold(offline: None, approval: Conversation) -> None:
    recorded = approval.turns[1].steps[0].resolved
    assert recorded is not None
    refund = recorded.tool("orders.refund")
    assert refund is not None
    looser = refund.model_copy(update={"approval": ApprovalRule(argument="amount_cents", above=1_000_000)})
    verdict = await replay_conversation(approval, Candidate(tools={"orders.refund": looser}))
    gated = [s for s in verdict.steps if s.status == DIVERGED]
    assert [g.details["gate"][0]["recorded"] for g in gated] == ["approval"]
    routed = await replay_conversation(approval, Candidate(router_threshold=0.99))
    assert all(s.kinds == ["route"] for s in routed.steps if s.status == DIVERGED)
    assert routed.steps[0].details["route"]["candidate"] == "large"


async def test_stopping_at_the_conversation_leaves_later_turns_uncompared(
    offline: None, injection: Conversation
) -> None:
    per_turn = await replay_conversation(injection, Candidate(model="planted/skip-tool"))
    whole = await replay_conversation(injection, Candidate(model="planted/skip-tool"), stop="conversation")
    assert next(s.status for s in per_turn.steps if s.turn == 1) == DIVERGED
    assert [s.status for s in whole.steps] == [DIVERGED] + [NOT_COMPARED] * (len(whole.steps) - 1)


async def test_an_external_model_reads_the_recording_through_the_privacy_boundary(
    offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals.replay import planted
    from evals.replay.model import ask

    seen: list[str] = []
    original = planted.decide

    def spy(fault: str, messages: list[dict[str, Any]], tools: Any) -> Any:
        seen.append(str(messages[-1]["content"]))
        return original(fault, messages, tools)

    monkeypatch.setattr(planted, "decide", spy)
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "write to jane.doe@example.com"}]
    decision = await ask("planted/agent", messages, [])
    assert "jane.doe@example.com" not in seen[0] and "<EMAIL_1>" in seen[0]
    assert decision.content == "echo: write to jane.doe@example.com"


async def test_a_route_alone_leaves_the_path_as_recorded(offline: None, tool_turn: Conversation) -> None:
    verdict = await replay_conversation(tool_turn, Candidate(router_threshold=0.99))
    assert [(s.status, s.kinds) for s in verdict.steps] == [(DIVERGED, ["route"])] * 3
