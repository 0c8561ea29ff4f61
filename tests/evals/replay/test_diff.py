"""Diffs of two decisions and what a candidate setting changes."""

from __future__ import annotations

from contracts.agents import AgentDefinition, ApprovalRule, ResolvedAgent, ToolSpec
from contracts.conversation import ModelCallResult, ToolCallRequest
from contracts.routing import RouteDecision, RouteReason
from evals.replay.candidate import Candidate
from evals.replay.diff import compare, structured_diff
from evals.replay.model import Decision

LOOKUP = ToolCallRequest(call_id="call_0", tool="orders.lookup", arguments={"order_id": "o-1"})


def _recorded(*calls: ToolCallRequest, content: str = "") -> ModelCallResult:
    return ModelCallResult(content=content, model="scripted/agent", tool_calls=list(calls))


def test_structured_diff_names_each_changed_leaf_by_its_path() -> None:
    before = {"items": [{"sku": "A", "quantity": 2}], "note": "x", "gone": 1}
    after = {"items": [{"sku": "A", "quantity": "2"}], "note": "x", "new": True}
    assert structured_diff(before, after) == [
        {"path": "/gone", "op": "removed", "recorded": 1},
        {"path": "/items/0/quantity", "op": "changed", "recorded": 2, "candidate": "2"},
        {"path": "/new", "op": "added", "candidate": True},
    ]
    assert structured_diff({"a": [1, 2]}, {"a": [1, 2]}) == []
    assert structured_diff({"a": 1}, {"a": True}) != []  # JSON 1 and true are different arguments


def test_same_calls_in_another_order_and_with_other_ids_agree() -> None:
    other = ToolCallRequest(call_id="x", tool="customers.lookup", arguments={})
    renamed = LOOKUP.model_copy(update={"call_id": "call_p0"})
    assert compare(_recorded(LOOKUP, other), Decision(calls=[other, renamed])) is None


def test_each_kind_of_divergence() -> None:
    wrong = LOOKUP.model_copy(update={"arguments": {"order_id": "o-2"}})
    kind, detail = compare(_recorded(LOOKUP), Decision(calls=[wrong])) or ("", {})
    assert kind == "arguments"
    change = {"path": "/order_id", "op": "changed", "recorded": "o-1", "candidate": "o-2"}
    assert detail["calls"][0]["changes"] == [change]
    kind, detail = compare(_recorded(LOOKUP), Decision(content="I cannot.")) or ("", {})
    assert (kind, detail["recorded"], detail["candidate"]) == ("tool", ["orders.lookup"], ["(answered)"])
    kind, detail = compare(_recorded(content="done: a\nbye"), Decision(content="done: b\nbye")) or ("", {})
    assert kind == "answer" and "-done: a" in detail["diff"] and "+done: b" in detail["diff"]
    assert compare(_recorded(LOOKUP), Decision(error="RateLimit"))[0] == "error"  # type: ignore[index]


def _resolved() -> ResolvedAgent:
    schema = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
    lookup = ToolSpec(name="orders.lookup", description="d", effect="read", input_schema=schema)
    refund = ToolSpec(
        name="orders.refund", description="d", effect="write", approval=ApprovalRule(argument="amount_cents", above=1)
    )
    definition = AgentDefinition(name="orders", system_prompt="p", tools=["orders.lookup", "orders.refund"])
    return ResolvedAgent(definition=definition, tools=[lookup, refund])


def test_a_candidate_changes_only_what_it_names() -> None:
    recorded = _resolved()
    assert Candidate().resolve(recorded) is recorded
    prompted = Candidate(system_prompt="new").resolve(recorded)
    assert prompted.definition.system_prompt == "new" and prompted.tools == recorded.tools
    assert [s.name for s in Candidate(tools={"orders.refund": None}).resolve(recorded).tools] == ["orders.lookup"]
    fewer = recorded.definition.model_copy(update={"tools": ["orders.refund"]})
    assert [s.name for s in Candidate(agents={"orders": fewer}).resolve(recorded).tools] == ["orders.refund"]


def test_a_router_threshold_takes_the_recorded_decision_again() -> None:
    routed = RouteDecision(tier="small", chain=["m"], reason=RouteReason.CLASSIFIER, p_small_pass=0.9, threshold=0.6)
    assert Candidate(router_threshold=0.5).route(routed) == routed.model_copy(update={"threshold": 0.5})
    flipped = Candidate(router_threshold=0.95, tier_models={"large": "big"}).route(routed)
    assert flipped is not None and (flipped.tier, flipped.chain) == ("large", ["big"])
    pinned = routed.model_copy(update={"reason": RouteReason.PINNED})
    assert Candidate(router_threshold=0.95).route(pinned) == pinned  # a tenant's pin does not read the threshold
