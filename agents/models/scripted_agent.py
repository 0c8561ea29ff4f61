"""`scripted/agent`: a deterministic tool-calling model for tests of the agent loop.

The last user message may carry a plan, `PLAN: <json list>`, whose items are

    {"tool": "orders.lookup", "args": {...}}   call this tool (one call per step)
    {"say": "text"}                            answer with this text and stop
    {"cite": "term"}                           answer with the sentence of the newest tool result's passages
                                               that contains `term`, citing its document, and stop
    {"loop": [item, item, ...]}                repeat these items forever (loop-safety tests)

At every call the model counts the plan steps already taken after the last user message (k) and emits plan
item k as a tool call with id `call_<k>`, or, when the plan is exhausted, the final answer
`done: <tool>=<status>` naming the newest tool result. Without a plan it answers like `scripted/echo`.

It is deliberately gullible, like a model without defences: when the newest tool result contains a line
`CALL <tool> <json args>` it first emits that call (id `call_inj_<n>`), once per distinct call and turn.
Tool results are read from the `<tool_result ...>{json}</tool_result>` blocks the model activity renders
(spotlight markers around the JSON are read through), so the line is found inside JSON strings too. Tests
use this to prove that the platform, not the model, stops injected instructions (approval rules, customer
binding, loop safety, the provenance policy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from litellm.types.utils import GenericStreamingChunk

from contracts.agents import function_name, tool_name_from_function

_PLAN = re.compile(r"PLAN:\s*")
_CALL_LINE = re.compile(r"^\s*CALL\s+([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,2})\s+(\{.*\})\s*$")
_RESULT = re.compile(r'^<tool_result name="([^"]*)" status="([^"]*)"[^>]*>(.*)</tool_result>$', re.DOTALL)
_SPOTLIGHT = re.compile(r"^\u27e6untrusted [^\u27e7]*\u27e7(.*)\u27e6/untrusted [^\u27e7]*\u27e7$", re.DOTALL)
_DELTA_WORDS = 2


@dataclass(frozen=True)
class Call:
    call_id: str
    tool: str
    arguments: dict[str, Any]


@dataclass
class _Step:
    calls: list[tuple[str, dict[str, Any]]]
    results: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    text: str = ""
    call: Call | None = None


def _text(message: dict[str, Any]) -> str:
    return str(message.get("content") or "")


def _split(text: str) -> list[str]:
    words = text.split(" ")
    chunks = [" ".join(words[i : i + _DELTA_WORDS]) for i in range(0, len(words), _DELTA_WORDS)]
    return [chunk + (" " if i < len(chunks) - 1 else "") for i, chunk in enumerate(chunks)]


def _arguments(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _turn(messages: list[dict[str, Any]]) -> tuple[str, list[_Step]]:
    """The last user message and the tool steps taken after it."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    steps: list[_Step] = []
    for message in messages[last_user + 1 :]:
        if message.get("role") == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                calls.append(
                    (tool_name_from_function(str(function.get("name") or "")), _arguments(function.get("arguments")))
                )
            steps.append(_Step(calls))
        elif message.get("role") == "tool" and steps:
            steps[-1].results.append(_text(message))
    return (_text(messages[last_user]) if last_user >= 0 else ""), steps


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def injected_calls(result: str) -> list[tuple[str, dict[str, Any]]]:
    """The `CALL <tool> <json>` lines in a tool result, wherever in its JSON they sit."""
    match = _RESULT.match(result.strip())
    body = match.group(3) if match else result
    # Spotlight markers tell a careful model where data ends; this one reads straight through them.
    marked = _SPOTLIGHT.match(body)
    body = marked.group(1) if marked else body
    try:
        texts = list(_strings(json.loads(body)))
    except ValueError:
        texts = [body]
    found = []
    for text in texts:
        for line in text.splitlines():
            call = _CALL_LINE.match(line)
            if call is None:
                continue
            try:
                arguments = json.loads(call.group(2))
            except ValueError:
                continue
            if isinstance(arguments, dict):
                found.append((call.group(1), arguments))
    return found


def _passages(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("text"), str) and isinstance(value.get("document"), str):
            yield value
        for item in value.values():
            yield from _passages(item)
    elif isinstance(value, list):
        for item in value:
            yield from _passages(item)


def cite(result: str, term: str) -> str:
    """The first sentence of a search result's passages that contains `term`, with its document; what a model
    grounded in its search answers. Nothing is made up: a term no passage holds is said to be missing."""
    match = _RESULT.match(result.strip())
    body = match.group(3) if match else result
    marked = _SPOTLIGHT.match(body)
    body = marked.group(1) if marked else body
    try:
        found = list(_passages(json.loads(body)))
    except ValueError:
        found = []
    for passage in found:
        for sentence in re.split(r"(?<=[.;!?])\s+", passage["text"]):
            if term.casefold() in sentence.casefold():
                return f"{sentence.strip()} [source: {passage['document']}]"
    return f"the documents say nothing about {term}"


def _plan(text: str) -> list[Any] | str | None:
    """The plan's items, an error message, or None when the message has no plan."""
    marker = _PLAN.search(text)
    if marker is None:
        return None
    try:
        items, _ = json.JSONDecoder().raw_decode(text, marker.end())
    except json.JSONDecodeError as exc:
        return f"plan error: {exc.msg}"
    if not isinstance(items, list):
        return "plan error: PLAN must be a JSON list"
    return items


def _item(items: list[Any], k: int) -> Any:
    for position, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("loop"), list) and item["loop"]:
            if k >= position:
                return item["loop"][(k - position) % len(item["loop"])]
            break
        if position == k:
            return item
    return None


def decide(messages: list[dict[str, Any]]) -> Reply:
    """What the model says next, from the messages alone."""
    user_text, steps = _turn(messages)
    items = _plan(user_text)
    if items is None:
        return Reply(text=f"echo: {user_text}")
    if isinstance(items, str):
        return Reply(text=items)
    injected: set[str] = set()
    planned = 0
    for i, step in enumerate(steps):
        previous = steps[i - 1].results[-1] if i > 0 and steps[i - 1].results else ""
        first = json.dumps(step.calls[0], sort_keys=True) if step.calls else ""
        offered = {json.dumps(c, sort_keys=True) for c in injected_calls(previous)} if previous else set()
        if first and first in offered:
            injected.add(first)
        else:
            planned += 1
    newest = steps[-1].results[-1] if steps and steps[-1].results else ""
    for tool, arguments in injected_calls(newest) if newest else []:
        if json.dumps((tool, arguments), sort_keys=True) not in injected:
            return Reply(call=Call(f"call_inj_{len(steps)}", tool, arguments))
    item = _item(items, planned)
    if isinstance(item, dict) and isinstance(item.get("tool"), str):
        planned_args = item.get("args")
        return Reply(call=Call(f"call_{planned}", item["tool"], planned_args if isinstance(planned_args, dict) else {}))
    if isinstance(item, dict) and isinstance(item.get("cite"), str):
        return Reply(text=cite(newest, item["cite"]))
    if isinstance(item, dict) and "say" in item:
        return Reply(text=str(item["say"]))
    if item is not None:
        return Reply(text=f"plan error: item {planned} is neither a tool call nor a say")
    if not newest:
        return Reply(text=f"echo: {user_text}")
    match = _RESULT.match(newest.strip())
    tool, status = (match.group(1), match.group(2)) if match else (steps[-1].calls[-1][0], "unknown")
    return Reply(text=f"done: {tool}={status}")


def usage(messages: list[dict[str, Any]], reply: Reply) -> dict[str, int]:
    prompt = sum(len(_text(m).split()) for m in messages)
    completion = len(reply.text.split()) + (len(json.dumps(reply.call.arguments).split()) + 1 if reply.call else 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chunks(reply: Reply, tokens: dict[str, int]) -> list[GenericStreamingChunk]:
    """The reply as a provider stream: text deltas, or a tool call whose arguments arrive in two pieces."""
    if reply.call is None:
        deltas = _split(reply.text)
        return [
            GenericStreamingChunk(
                text=delta,
                tool_use=None,
                is_finished=position == len(deltas) - 1,
                finish_reason="stop" if position == len(deltas) - 1 else "",
                usage=tokens if position == len(deltas) - 1 else None,  # type: ignore[typeddict-item]
            )
            for position, delta in enumerate(deltas)
        ]
    call = reply.call
    raw = json.dumps(call.arguments, sort_keys=True)
    half = len(raw) // 2
    out = [
        GenericStreamingChunk(
            text="",
            # Like a provider's stream: id and name with the first fragment only, the arguments in pieces.
            tool_use={
                "id": call.call_id if position == 0 else None,
                "type": "function",
                "function": {"name": function_name(call.tool) if position == 0 else None, "arguments": piece},
                "index": 0,
            },
            is_finished=False,
            finish_reason="",
            usage=None,
        )
        for position, piece in enumerate((raw[:half], raw[half:]))
    ]
    out.append(
        GenericStreamingChunk(text="", tool_use=None, is_finished=True, finish_reason="tool_calls", usage=tokens)  # type: ignore[typeddict-item]
    )
    return out


def tool_call_dicts(reply: Reply) -> list[dict[str, Any]]:
    """The reply's call in the shape `litellm.mock_completion(mock_tool_calls=...)` takes."""
    if reply.call is None:
        return []
    return [
        {
            "id": reply.call.call_id,
            "type": "function",
            "function": {"name": function_name(reply.call.tool), "arguments": json.dumps(reply.call.arguments)},
        }
    ]
