"""One model call, as the model activity makes it, minus the world: no transcript read, no event published,
no lease renewed, no usage metered. The messages and tools come from the recording (`evals.replay.context`).

A production history carries what customers wrote, so an external provider reads it through the same
boundary as in production (`agents.privacy`): personal data pseudonymised on the way out and restored in the
answer and the call arguments. The replay reads no tenant settings, so the platform's default policy
(pseudonymise every entity) applies; which models are a boundary is `policies.privacy.is_external`'s
answer, as in production (only `local/...` is not).

Through litellm with the platform's providers registered (`scripted/...`, `local/...`) and retries off, so a
provider error is reported, not hidden by a retry. Arguments are parsed as the activity parses them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, cast

import litellm

from agents import prompt
from agents.models.errors import to_application_error
from agents.models.registry import register_builtin_providers
from agents.privacy import ProviderPrivacy, Shield
from contracts.agents import tool_name_from_function
from contracts.conversation import ToolCallRequest
from db.database import Database
from policies.privacy import PrivacyPolicy

DEFAULT_TIMEOUT_SECONDS = 120.0
# A retryable provider error (rate limit, outage, timeout) is tried again, as the model activity's retry
# policy would; the attempt number reaches the provider as the activity passes it.
MAX_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 10.0


class _DefaultPolicy:
    """The platform's default privacy policy for every tenant: the replay reads no tenant settings."""

    async def get(self, tenant_id: str) -> PrivacyPolicy:
        return PrivacyPolicy()


_PRIVACY = ProviderPrivacy(cast(Database, None), policies=cast(Any, _DefaultPolicy()))


async def _shield(model: str, messages: list[dict[str, Any]]) -> Shield:
    return await _PRIVACY.shield("", model, messages)


@dataclass(frozen=True)
class Decision:
    """What a model decided at one step: tool calls, or a final answer (content without calls)."""

    content: str = ""
    calls: list[ToolCallRequest] = field(default_factory=list)
    model: str = ""
    error: str = ""
    seconds: float = 0.0

    @property
    def final(self) -> bool:
        return not self.calls and not self.error


async def ask(
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> Decision:
    register_builtin_providers()
    started = time.perf_counter()
    shield = await _shield(model, messages)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            response = await litellm.acompletion(
                model=model,
                messages=shield.messages,
                num_retries=0,
                max_retries=0,
                timeout=timeout_seconds,
                metadata={"attempt": attempt},
                **({"tools": tools} if tools else {}),
            )
            break
        except Exception as exc:  # every provider error is a finding of the replay, not a crash of it
            error = to_application_error(exc, model)
            if error.non_retryable or attempt == MAX_ATTEMPTS:
                text = f"{error.type}: {exc}"[:500]
                return Decision(model=model, error=text, seconds=time.perf_counter() - started)
            delay = error.next_retry_delay.total_seconds() if error.next_retry_delay else float(attempt)
            if not model.startswith(("scripted/", "planted/")):  # in-process: nothing to wait for
                await asyncio.sleep(min(delay, MAX_BACKOFF_SECONDS))
    message = response.choices[0].message
    calls = [
        shield.restore_call(
            ToolCallRequest(
                call_id=str(call.id or f"call_{position}")[:128],
                tool=tool_name_from_function(str(call.function.name or ""))[:128],
                arguments=prompt.parse_arguments(call.function.arguments or ""),
            )
        )
        for position, call in enumerate(getattr(message, "tool_calls", None) or [])
    ]
    restorer = shield.streamer()
    content = restorer.feed(str(message.content or "")) + restorer.flush()
    return Decision(content=content, calls=calls, model=model, seconds=time.perf_counter() - started)
