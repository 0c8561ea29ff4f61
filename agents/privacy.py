"""The model-provider boundary: what leaves the platform for an external model, and what comes back.

Before a call, every user, assistant and tool message (and the arguments of earlier tool calls) passes the
tenant's policy (`policies.privacy`): pseudonymised (`<EMAIL_1>`, restored in the answer, in streamed deltas
and in the arguments of the tools the model calls), redacted (`[email]`, nothing to restore) or sent as
typed. The system prompt is the tenant's own text and stays. Detection runs in a thread: the name model is
CPU work and the activity's event loop keeps heartbeating meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from contracts.conversation import ToolCallRequest
from core.pii import PiiDetector, shared_names
from core.pii.pseudonyms import Pseudonyms, StreamRestorer
from db.database import Database
from policies.privacy import PrivacyPolicies, ProviderMode, is_external

_SHIELDED_ROLES = frozenset({"user", "assistant", "tool"})


class _Passthrough:
    def feed(self, delta: str) -> str:
        return delta

    def flush(self) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Shield:
    """One model call's view through the boundary: the messages to send and how to read the answer."""

    messages: list[dict[str, Any]]
    pseudonyms: Pseudonyms | None = None

    def streamer(self) -> StreamRestorer | _Passthrough:
        return self.pseudonyms.streamer() if self.pseudonyms is not None else _Passthrough()

    def restore_call(self, call: ToolCallRequest) -> ToolCallRequest:
        if self.pseudonyms is None:
            return call
        return call.model_copy(update={"arguments": self.pseudonyms.restore_value(call.arguments)})

    @property
    def hidden(self) -> int:
        return self.pseudonyms.count if self.pseudonyms is not None else 0


class ProviderPrivacy:
    def __init__(self, db: Database, detector: PiiDetector | None = None, policies: PrivacyPolicies | None = None):
        self._detector = detector
        self._policies = policies or PrivacyPolicies(db)

    def _get_detector(self) -> PiiDetector:
        if self._detector is None:
            self._detector = PiiDetector(shared_names())
        return self._detector

    async def shield(self, tenant_id: str, model: str, messages: list[dict[str, Any]]) -> Shield:
        if not is_external(model):
            return Shield(messages)
        policy = await self._policies.get(tenant_id)
        if policy.provider_mode == ProviderMode.OFF or not policy.provider_entities:
            return Shield(messages)
        detector = await asyncio.to_thread(self._get_detector)
        pseudonyms = Pseudonyms(detector, policy.provider_config())
        hidden = await asyncio.to_thread(_hide, messages, pseudonyms, policy.provider_mode)
        return Shield(hidden, pseudonyms if policy.provider_mode == ProviderMode.PSEUDONYMISE else None)


def _texts(messages: list[dict[str, Any]]) -> list[tuple[int, str, int | None]]:
    """(message index, field, tool-call index) of every text that may carry what a customer typed."""
    slots: list[tuple[int, str, int | None]] = []
    for i, message in enumerate(messages):
        if message.get("role") not in _SHIELDED_ROLES:
            continue
        if isinstance(message.get("content"), str) and message["content"]:
            slots.append((i, "content", None))
        for j, call in enumerate(message.get("tool_calls") or []):
            if isinstance(call.get("function", {}).get("arguments"), str):
                slots.append((i, "arguments", j))
    return slots


def _hide(messages: list[dict[str, Any]], pseudonyms: Pseudonyms, mode: ProviderMode) -> list[dict[str, Any]]:
    slots = _texts(messages)
    texts = [_read(messages, slot) for slot in slots]
    hidden = pseudonyms.hide_many(texts) if mode == ProviderMode.PSEUDONYMISE else pseudonyms.redact_many(texts)
    out = [dict(m) for m in messages]
    for slot, text in zip(slots, hidden, strict=True):
        i, _field, j = slot
        if j is None:
            out[i]["content"] = text
        else:
            calls = [dict(c) for c in out[i]["tool_calls"]]
            calls[j] = {**calls[j], "function": {**calls[j]["function"], "arguments": _json_safe(text)}}
            out[i]["tool_calls"] = calls
    return out


def _read(messages: list[dict[str, Any]], slot: tuple[int, str, int | None]) -> str:
    i, field, j = slot
    if field == "content":
        return str(messages[i]["content"])
    return str(messages[i]["tool_calls"][j]["function"]["arguments"])


def _json_safe(text: str) -> str:
    """Arguments stay valid JSON after replacement: tags and placeholders hold no quote or backslash."""
    try:
        json.loads(text)
    except ValueError:
        return json.dumps({"arguments": text})
    return text
