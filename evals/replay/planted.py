"""Deterministic models with known faults, as litellm providers `planted/<fault>`, for measuring the replay.

Each answers like `scripted/agent` (`agents.models.scripted_agent.decide`) except for one planted fault:

    agent       no fault, but it reads what a real model reads: it calls only tools it is offered (else it says
                it cannot), follows a renamed argument of a tool's schema, and obeys two kinds of line in the
                system prompt, `Never call <tool>.` and `End every answer with: <text>`
    skip-tool   answers instead of calling a tool
    wrong-arg   changes the value of one argument
    swap-tool   calls another tool than planned
    extra-call  adds a second call to the step
    drop-arg    leaves one argument out
    stringly    sends numbers as strings
    rephrase    words its final answers differently
    no-handoff  keeps a conversation instead of handing it over

`planted/agent` with the recorded settings must agree with every recording (a control of the harness);
the others are regressions the replay should report.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from agents.models import scripted_agent
from agents.models.registry import register_builtin_providers
from contracts.agents import HANDOFF_TOOL, function_name, tool_name_from_function

FAULTS = (
    "agent",
    "skip-tool",
    "wrong-arg",
    "swap-tool",
    "extra-call",
    "drop-arg",
    "stringly",
    "rephrase",
    "no-handoff",
)
_NEVER = re.compile(r"^Never call ([a-z0-9_.]+)\.\s*$", re.MULTILINE)
_SUFFIX = re.compile(r"^End every answer with: (.+)$", re.MULTILINE)
_SWAP = {"orders.lookup": "orders.list", "orders.list": "orders.lookup", "orders.place": "orders.cancel"}
CANNOT = "I cannot do that here."


def _system(messages: list[dict[str, Any]]) -> str:
    return str(messages[0].get("content") or "") if messages and messages[0].get("role") == "system" else ""


def _offered(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {tool_name_from_function(t["function"]["name"]): t["function"].get("parameters") or {} for t in tools or []}


def _follow_schema(arguments: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A renamed argument is sent under its new name, as a model reading the schema would."""
    properties = set(schema.get("properties") or {})
    unknown = [k for k in arguments if k not in properties]
    missing = [k for k in schema.get("required") or [] if k not in arguments]
    if len(unknown) == 1 and len(missing) == 1:
        arguments = {**{k: v for k, v in arguments.items() if k != unknown[0]}, missing[0]: arguments[unknown[0]]}
    return arguments


def _mutate(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    if isinstance(value, list) and value:
        return [_mutate(value[0]), *value[1:]]
    if isinstance(value, dict) and value:
        key = sorted(value)[0]
        return {**value, key: _mutate(value[key])}
    return value


def _stringly(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_stringly(v) for v in value]
    if isinstance(value, dict):
        return {k: _stringly(v) for k, v in value.items()}
    return value


def decide(fault: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> tuple[str, list[Any]]:
    """The answer text and the calls (tool, arguments) the faulty model gives."""
    reply = scripted_agent.decide(messages)
    system = _system(messages)
    if reply.call is None:
        text = reply.text
        if fault == "rephrase":
            text = f"All set. {text.capitalize()}"
        suffix = _SUFFIX.search(system)
        return (f"{text} {suffix.group(1).strip()}" if suffix else text), []
    tool, arguments = reply.call.tool, dict(reply.call.arguments)
    offered = _offered(tools)
    if tool in set(_NEVER.findall(system)) or (offered and tool not in offered):
        return CANNOT, []
    if tool in offered:
        arguments = _follow_schema(arguments, offered[tool])
    if fault == "skip-tool" or (fault == "no-handoff" and tool == HANDOFF_TOOL):
        return "I have looked into it for you.", []
    if fault == "wrong-arg" and arguments:
        key = sorted(arguments)[0]
        arguments[key] = _mutate(arguments[key])
    elif fault == "drop-arg" and arguments:
        arguments.pop(sorted(arguments)[-1])
    elif fault == "stringly":
        arguments = _stringly(arguments)
    elif fault == "swap-tool":
        tool = _SWAP.get(tool, "tickets.create")
    calls = [(tool, arguments)]
    if fault == "extra-call":
        calls.append(("customers.lookup", {}))
    return "", calls


def _usage(messages: list[dict[str, Any]], text: str, calls: list[Any]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
    completion = len(text.split()) + sum(len(json.dumps(arguments).split()) + 1 for _tool, arguments in calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def stream_chunks(
    messages: list[dict[str, Any]], text: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[GenericStreamingChunk]:
    """The answer as a provider streams it (the platform's model calls stream): text deltas, or each call's
    id and name with its first fragment and its arguments in two pieces."""
    tokens = _usage(messages, text, calls)
    if not calls:
        return scripted_agent.chunks(scripted_agent.Reply(text=text), tokens)
    out: list[GenericStreamingChunk] = []
    for index, (tool, arguments) in enumerate(calls):
        raw = json.dumps(arguments, sort_keys=True)
        for position, piece in enumerate((raw[: len(raw) // 2], raw[len(raw) // 2 :])):
            out.append(
                GenericStreamingChunk(
                    text="",
                    tool_use={
                        # Unique within a turn: its messages grow with every step.
                        "id": f"call_p{len(messages)}_{index}" if position == 0 else None,
                        "type": "function",
                        "function": {"name": function_name(tool) if position == 0 else None, "arguments": piece},
                        "index": index,
                    },
                    is_finished=False,
                    finish_reason="",
                    usage=None,
                )
            )
    out.append(
        GenericStreamingChunk(text="", tool_use=None, is_finished=True, finish_reason="tool_calls", usage=tokens)  # type: ignore[typeddict-item]
    )
    return out


class PlantedLLM(CustomLLM):
    @staticmethod
    def _fault(model: str) -> str:
        fault = model.split("/", 1)[-1]
        if fault not in FAULTS:
            raise litellm.NotFoundError(f"unknown planted model {model!r}", model=model, llm_provider="planted")
        return fault

    def streaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        tools = (kwargs.get("optional_params") or {}).get("tools")
        yield from stream_chunks(messages, *decide(self._fault(model), messages, tools))

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in self.streaming(model, messages, *args, **kwargs):
            yield chunk

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        tools = (kwargs.get("optional_params") or {}).get("tools")
        text, calls = decide(self._fault(model), messages, tools)
        tool_calls = [
            {
                "id": f"call_p{i}",
                "type": "function",
                "function": {"name": function_name(tool), "arguments": json.dumps(arguments)},
            }
            for i, (tool, arguments) in enumerate(calls)
        ]
        return litellm.mock_completion(
            model=model, messages=messages, mock_response=text, mock_tool_calls=tool_calls or None
        )

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        return self.completion(model, messages, *args, **kwargs)


def register_planted() -> None:
    """Add `planted/...` next to the platform's own providers (idempotent)."""
    register_builtin_providers()
    if not any(p.get("provider") == "planted" for p in litellm.custom_provider_map):
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": "planted", "custom_handler": PlantedLLM()},
        ]
