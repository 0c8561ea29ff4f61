"""`aiaas chat` shows what the provenance policy did: a refusal's reason, a question put to the customer."""

from __future__ import annotations

from app.cli_chat_stream import describe


def test_a_question_and_its_answer_and_a_refusal_each_get_a_line() -> None:
    asked = describe(
        "confirmation.requested",
        {"tool": "orders.cancel", "question": "Shall I cancel order o-1? yes/no", "confirmation_id": "c-1"},
    )
    assert asked is not None and asked.startswith("[confirm] Shall I cancel order o-1? yes/no") and "c-1" in asked
    assert describe("confirmation.resolved", {"tool": "orders.cancel", "status": "declined"}) == (
        "[confirm] orders.cancel: declined"
    )
    refused = describe("tool.policy", {"tool": "orders.cancel", "verdict": "refuse", "reason": "not asked"})
    assert refused == "[policy] orders.cancel refused: not asked"
    # An allowed call needs no line of its own: tool.started and tool.completed follow.
    assert describe("tool.policy", {"tool": "orders.cancel", "verdict": "allow"}) is None
