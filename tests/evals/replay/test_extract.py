"""Extraction of the agent loop from recorded histories: turns, model steps, tool calls with their results."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from contracts.provenance import NOT_CONFIRMED, POLICY_REFUSED
from evals.replay.context import messages_for, tool_schemas
from evals.replay.extract import extract
from evals.replay.history import HistoryError, load_history
from evals.replay.recorded import Conversation
from tests.evals.replay.conftest import HISTORIES, conversation
from workflows.agent_turn import CUT_ANSWER


def test_a_tool_turn_is_steps_with_calls_and_their_recorded_results(tool_turn: Conversation) -> None:
    assert len(tool_turn.turns) == 1
    turn = tool_turn.turns[0]
    assert turn.content.startswith("PLAN: ")
    assert [(s.step, s.inp.agent) for s in turn.steps] == [(0, "support"), (1, "orders"), (2, "orders")]
    handoff, lookup = turn.steps[0].calls[0], turn.steps[1].calls[0]
    assert (handoff.source, handoff.result.status, handoff.result.output) == ("handoff", "ok", {"agent": "orders"})
    assert lookup.source == "activity" and lookup.request.tool == "orders.lookup"
    assert lookup.result.status == "ok" and lookup.result.output["total_cents"] == 5500
    assert turn.steps[2].calls == [] and turn.answer == "done: orders.lookup=ok"
    # Each step keeps the agent it resolved: the handoff switched the definition and the tools offered.
    assert turn.steps[1].resolved is not None and turn.steps[1].resolved.definition.name == "orders"


def test_refusals_decided_in_the_workflow_are_rebuilt_from_the_same_checks(injection: Conversation) -> None:
    first, second = injection.turns
    refused = first.steps[1].calls[0]
    assert (refused.request.tool, refused.source) == ("orders.cancel", "workflow")
    assert (refused.result.status, refused.result.error_type) == ("denied", POLICY_REFUSED)
    # The second time the policy asked the customer, who declined (the `confirm_action` update in history).
    declined = second.steps[1].calls[0]
    assert declined.gate.verdict == "confirm"
    assert (declined.result.status, declined.result.error_type) == ("denied", NOT_CONFIRMED)
    assert first.answer == second.answer == "done: orders.cancel=denied"


def test_sagas_and_approvals_are_read_from_child_workflows(approval: Conversation) -> None:
    place, refund = (turn.steps[0].calls[0] for turn in approval.turns)
    assert place.source == refund.source == "saga"
    assert place.result.output["saga_status"] == "completed"
    assert (place.gate.verdict, refund.gate.verdict) == ("run", "approval")


def test_a_cut_turn_answers_with_the_cut_answer_and_a_cancelled_call_is_noted() -> None:
    assert conversation("conversation_loop_cut").turns[0].answer == CUT_ANSWER
    interrupted = conversation("conversation_interrupt").turns[0].steps[0]
    assert interrupted.output is None and "cancelled" in interrupted.note


def test_the_rebuilt_messages_are_what_the_model_read(tool_turn: Conversation) -> None:
    turn = tool_turn.turns[0]
    agent = turn.steps[2].resolved
    assert agent is not None
    messages = messages_for(tool_turn, 0, 2, agent)
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("You are the order desk")
    assert turn.steps[2].inp.spotlight in messages[0]["content"]
    assert messages[1] == {"role": "user", "content": turn.content}
    tools = [m for m in messages if m["role"] == "tool"]
    assert [t["content"].split(" ", 2)[1] for t in tools] == ['name="agents.handoff"', 'name="orders.lookup"']
    assert 'status="ok"' in tools[1]["content"] and "5500" in tools[1]["content"]
    names = [s["function"]["name"] for s in tool_schemas(agent)]
    assert len(names) == len(turn.steps[2].inp.tools)


class _Sealing(PayloadCodec):
    """A stand-in for the platform's codec: the whole payload sealed under `binary/encrypted`."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": b"binary/encrypted"}, data=p.SerializeToString()) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload.FromString(p.data) if p.metadata.get("encoding") == b"binary/encrypted" else p for p in payloads
        ]


def _sealed_copy(tmp_path: Path) -> Path:
    data = json.loads((HISTORIES / "conversation_tool_turn.json").read_text())

    def seal(node: object) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                if key == "payloads" and isinstance(item, list):
                    for i, payload in enumerate(item):
                        plain = Payload(
                            metadata={k: base64.b64decode(v) for k, v in payload.get("metadata", {}).items()},
                            data=base64.b64decode(payload.get("data", "")),
                        )
                        item[i] = {
                            "metadata": {"encoding": base64.b64encode(b"binary/encrypted").decode()},
                            "data": base64.b64encode(plain.SerializeToString()).decode(),
                        }
                else:
                    seal(item)
        elif isinstance(node, list):
            for item in node:
                seal(item)

    seal(data)
    path = tmp_path / "sealed.json"
    path.write_text(json.dumps(data))
    return path


async def test_encrypted_histories_need_the_codec_and_open_with_it(tmp_path: Path) -> None:
    sealed = _sealed_copy(tmp_path)
    with pytest.raises(HistoryError, match="encrypted"):
        extract(await load_history(sealed))
    opened = extract(await load_history(sealed, codec=_Sealing()))
    assert opened.turns[0].answer == "done: orders.lookup=ok"


async def test_a_file_that_is_not_a_history_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"events": []}')
    with pytest.raises(HistoryError, match="no events"):
        await load_history(bad)
