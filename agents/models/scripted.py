"""Scripted models: deterministic litellm providers for tests and offline demos.

`scripted/echo` answers `echo: <the user's text>` streamed as several deltas. The other scripts exercise
the paths a real provider takes: slow streams (to kill a worker mid-answer), a failure on the first
attempt (retries), and provider errors that must not be retried. `scripted/agent` calls tools by a plan in
the user's message (`agents.models.scripted_agent`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from agents.models import scripted_agent

SCRIPTS = ("echo", "slow-echo", "flaky-echo", "error-400", "error-429", "error-401", "agent")
AGENT_SCRIPT = "agent"
_DELTA_WORDS = 2
_SLOW_DELAY_SECONDS = 0.5


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def _deltas(text: str) -> list[str]:
    """Split an answer into deltas of a few words, keeping every character (spaces included)."""
    words = text.split(" ")
    chunks = [" ".join(words[i : i + _DELTA_WORDS]) for i in range(0, len(words), _DELTA_WORDS)]
    return [chunk + (" " if i < len(chunks) - 1 else "") for i, chunk in enumerate(chunks)]


def _fail(script: str, attempt: int) -> None:
    request = httpx.Request("POST", "http://scripted.invalid/v1/chat/completions")
    if script == "error-400":
        raise litellm.BadRequestError("scripted bad request", model=script, llm_provider="scripted")
    if script == "error-401":
        raise litellm.AuthenticationError("scripted bad key", model=script, llm_provider="scripted")
    if script == "error-429" or (script == "flaky-echo" and attempt <= 1):
        response = httpx.Response(429, headers={"retry-after": "1"}, request=request)
        raise litellm.RateLimitError("scripted rate limit", model=script, llm_provider="scripted", response=response)


class ScriptedLLM(CustomLLM):
    """A litellm custom provider; the model name after `scripted/` picks the script."""

    def _script(self, model: str, kwargs: dict[str, Any]) -> str:
        script = model.split("/", 1)[-1]
        if script not in SCRIPTS:
            raise litellm.NotFoundError(f"unknown scripted model {model!r}", model=model, llm_provider="scripted")
        # litellm hands the caller's `metadata` (the activity attempt) through its own params.
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        _fail(script, int(metadata.get("attempt", 1)))
        return script

    def _plan(self, model: str, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> list[str]:
        self._script(model, kwargs)
        return _deltas(f"echo: {_last_user_text(messages)}")

    def _stream(
        self, model: str, messages: list[dict[str, Any]], kwargs: dict[str, Any]
    ) -> list[GenericStreamingChunk]:
        if self._script(model, kwargs) == AGENT_SCRIPT:
            reply = scripted_agent.decide(messages)
            return scripted_agent.chunks(reply, scripted_agent.usage(messages, reply))
        deltas = _deltas(f"echo: {_last_user_text(messages)}")
        return list(self._chunks(deltas, self._usage(messages, deltas)))

    def _usage(self, messages: list[dict[str, Any]], answer: list[str]) -> dict[str, int]:
        prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
        completion = sum(len(d.split()) for d in answer)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _chunks(self, deltas: list[str], usage: dict[str, int]) -> Iterator[GenericStreamingChunk]:
        for i, delta in enumerate(deltas):
            last = i == len(deltas) - 1
            yield GenericStreamingChunk(
                text=delta,
                tool_use=None,
                is_finished=last,
                finish_reason="stop" if last else "",
                usage=usage if last else None,  # type: ignore[typeddict-item]
                index=0,
            )

    def streaming(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        yield from self._stream(model, messages, kwargs)

    async def astreaming(  # type: ignore[override]
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        slow = model.endswith("slow-echo")
        for chunk in self._stream(model, messages, kwargs):
            if slow:
                await asyncio.sleep(_SLOW_DELAY_SECONDS)
            yield chunk

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        if self._script(model, kwargs) == AGENT_SCRIPT:
            reply = scripted_agent.decide(messages)
            return litellm.mock_completion(
                model=model,
                messages=messages,
                mock_response=reply.text,
                mock_tool_calls=scripted_agent.tool_call_dicts(reply) or None,
            )
        deltas = self._plan(model, messages, kwargs)
        return litellm.mock_completion(model=model, messages=messages, mock_response="".join(deltas))

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> ModelResponse:
        return self.completion(model, messages, *args, **kwargs)
