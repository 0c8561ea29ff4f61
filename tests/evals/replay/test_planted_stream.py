"""The planted models stream what they complete: the platform's model calls stream, and a planted model that
could not would fall back to the next model of the route and hide its fault."""

from __future__ import annotations

import json
from typing import Any

import litellm
import pytest

from contracts.agents import function_name
from evals.replay.planted import CANNOT, register_planted

PLAN = '\nPLAN: [{"tool": "orders.lookup", "args": {"order_id": "ord_1"}}]'
TOOLS = [
    {
        "type": "function",
        "function": {"name": function_name("orders.lookup"), "parameters": {"properties": {"order_id": {}}}},
    }
]


async def _streamed(model: str, system: str = "You help.") -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "where is it?" + PLAN}]
    stream = await litellm.acompletion(model=model, messages=messages, stream=True, tools=TOOLS)
    text, calls = "", {}
    async for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for call in delta.tool_calls or []:
            name, arguments = calls.get(call.index, ("", ""))
            calls[call.index] = (name or call.function.name or "", arguments + (call.function.arguments or ""))
    return text, [(name, json.loads(arguments)) for _i, (name, arguments) in sorted(calls.items())]


@pytest.fixture(autouse=True)
def _planted() -> None:
    register_planted()


async def test_planted_models_stream_their_faults() -> None:
    lookup = function_name("orders.lookup")
    assert await _streamed("planted/agent") == ("", [(lookup, {"order_id": "ord_1"})])
    assert await _streamed("planted/wrong-arg") == ("", [(lookup, {"order_id": "ord_0"})])
    _text, extra = await _streamed("planted/extra-call")
    assert [name for name, _ in extra] == [lookup, function_name("customers.lookup")]
    assert await _streamed("planted/skip-tool") == ("I have looked into it for you.", [])
    # It reads the system prompt as a real model would.
    assert await _streamed("planted/agent", "You help.\nNever call orders.lookup.") == (CANNOT, [])
